//! Generation from the dashboard: one form per mode of the synthetic-data API, refusals that name
//! the field and store nothing, a job followed to its end, and the synthetic-data report.

use crate::helpers::*;
use crate::on_both_stores;
use crate::web::{assert_self_contained, browser, csrf_in, get_page, header, sign_in};
use serde_json::{json, Value};

/// A model of ai4i conditioned on `Type` (levels L, M, H), trained to the end.
async fn conditioned_model(app: &TestApp) -> (i64, i64) {
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let spec = json!({"epochs": 3, "hidden": [32], "latent": 4, "batch_size": 256, "patience": null, "threads": 1,
                      "conditions": ["Type"]});
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 202);
    let m: Value = r.json().await.unwrap();
    let job = app.wait_job(m["job"]["id"].as_i64().unwrap(), 300).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    (ds, m["id"].as_i64().unwrap())
}

/// A form's fields as (name, value).
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// `POST /models/{model}/generate` with these fields (and the CSRF token).
async fn submit(app: &TestApp, cookie: &str, model: i64, csrf: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    browser()
        .post(app.url(&format!("/models/{model}/generate")))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Every visible input and select of the page has an id that a `<label for>` names.
fn assert_labelled(page: &str) {
    let mut seen = 0;
    for tag in ["<input", "<select"] {
        for (at, _) in page.match_indices(tag) {
            let end = at + page[at..].find('>').unwrap();
            let element = &page[at..end];
            if element.contains("type=\"hidden\"") || element.contains("aria-hidden=\"true\"") {
                continue;
            }
            let id = element.split("id=\"").nth(1).and_then(|r| r.split('"').next()).expect("an id");
            assert!(page.contains(&format!("<label for=\"{id}\"")), "no label for {id}");
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} fields");
}

async fn the_forms_refuse_bad_input_by_field_and_store_nothing(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let (_, model) = conditioned_model(&app).await;
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (status, page) = get_page(&app, &admin, &format!("/models/{model}/generate")).await;
    assert_eq!(status, 200);
    for text in [
        "Sample rows",
        "Rows of one class",
        "Oversample the rare classes",
        "Balanced rows",
        "A synthetic copy of the table",
        "<label for=\"class-class\"",
        "<optgroup label=\"Type\"",
        "<label for=\"sample-condition-Type\"",
        "<label for=\"class-max_close_share\"",
        "name=\"mode\" value=\"to_majority\"",
    ] {
        assert!(page.contains(text), "the form page lacks {text}");
    }
    assert_labelled(&page);
    assert_self_contained(&page);
    let csrf = csrf_in(&page);

    // a viewer is not offered the forms and may not post them
    let viewer = sign_in(&app, &app.token("viewer").await).await;
    let (status, _) = get_page(&app, &viewer, &format!("/models/{model}/generate")).await;
    assert_eq!(status, 403);
    let (_, jobs_page) = get_page(&app, &viewer, "/jobs").await;
    let fields = [("mode", "class"), ("rows", "10"), ("label", "Type"), ("class", "H")];
    let r = submit(&app, &viewer, model, &csrf_in(&jobs_page), &fields).await;
    assert_eq!(r.status().as_u16(), 403);
    // a forged form (wrong token) is refused before anything is looked at
    let r = submit(&app, &admin, model, &"0".repeat(32), &fields).await;
    assert_eq!(r.status().as_u16(), 403);

    let too_many = (app.settings.limits.max_rows + 1).to_string();
    let cases: Vec<(Fields, &str, Vec<&str>)> = vec![
        (
            vec![("mode", "class"), ("rows", "0"), ("label", "Type"), ("class", "H")],
            "class-rows",
            vec!["Rows", "add up"],
        ),
        (vec![("mode", "class"), ("rows", &too_many), ("label", "Type"), ("class", "H")], "class-rows", vec!["Rows"]),
        (vec![("mode", "class"), ("rows", "-3"), ("label", "Type"), ("class", "H")], "class-rows", vec!["'-3'"]),
        (
            vec![("mode", "class"), ("rows", "10"), ("label", "Type"), ("class", "X")],
            "class-class",
            vec!["Class", "'X' is not a level of 'Type'"],
        ),
        (vec![("mode", "sample"), ("rows", "0")], "sample-rows", vec!["Rows", "n must be from 1"]),
        (vec![("mode", "sample"), ("rows", &too_many)], "sample-rows", vec!["Rows", "n must be from 1"]),
        (
            vec![("mode", "sample"), ("rows", "10"), ("condition.Type", "X")],
            "sample-condition-Type",
            vec!["Condition Type", "not a level"],
        ),
        (vec![("mode", "total"), ("rows", "0"), ("label", "Type")], "total-rows", vec!["Rows", "balance.total"]),
        (vec![("mode", "total"), ("rows", &too_many), ("label", "Type")], "total-rows", vec!["Rows", "at most"]),
        (
            vec![("mode", "to_majority"), ("label", "Type"), ("max_close_share", "2")],
            "to_majority-max_close_share",
            vec!["privacy.max_close_share must be from 0 to 1"],
        ),
        (
            vec![("mode", "like_real"), ("label", "Type"), ("name", "bad/name")],
            "like_real-name",
            vec!["New dataset name"],
        ),
        (vec![("mode", "sample"), ("rows", "5"), ("name", "ai4i")], "sample-name", vec!["exists already"]),
        (
            vec![("mode", "class"), ("rows", "5"), ("label", "Type"), ("class", "H"), ("temperature", "-1")],
            "class-temperature",
            vec!["Temperature"],
        ),
    ];
    for (fields, input, needles) in cases {
        let r = submit(&app, &admin, model, &csrf, &fields).await;
        assert_eq!(r.status().as_u16(), 400, "{fields:?}");
        let page = r.text().await.unwrap();
        let mode = fields[0].1;
        let alert =
            page.find(&format!("role=\"alert\" id=\"{mode}-error\"")).unwrap_or_else(|| panic!("{fields:?}: no alert"));
        let alert = &page[alert..alert + page[alert..].find("</p>").unwrap()];
        for n in needles {
            let n = n.replace('\'', "&#39;");
            assert!(
                alert.contains(&n) || alert.contains(&n.replace("&#39;", "'")),
                "{fields:?}: the alert lacks {n}: {alert}"
            );
        }
        // the field at fault is marked, and what was typed is shown again
        let at = page.find(&format!("id=\"{input}\"")).unwrap_or_else(|| panic!("no {input}"));
        let element = &page[at..at + page[at..].find('>').unwrap()];
        assert!(element.contains("aria-invalid=\"true\""), "{input} not marked: {element}");
        for (k, v) in &fields {
            if ["rows", "name", "temperature", "max_close_share"].contains(k) {
                assert!(page.contains(&format!("value=\"{v}\"")), "{k}={v} not kept");
            }
        }
    }
    // nothing was queued or stored: the training job and the uploaded dataset only
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");
    let (_, datasets) = app.get_json("/api/v1/datasets").await;
    assert_eq!(datasets["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

/// Follows `/generations/{job}` (as a browser's reload would) until it sends the browser on.
async fn follow(app: &TestApp, cookie: &str, location: &str) -> String {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let r = browser().get(app.url(location)).header("cookie", cookie).send().await.unwrap();
        if r.status().as_u16() == 303 {
            return header(&r, "location");
        }
        assert_eq!(r.status().as_u16(), 200);
        let page = r.text().await.unwrap();
        if page.contains("<meta http-equiv=\"refresh\" content=\"2\"") {
            assert!(page.contains("<progress"), "a running job shows its progress");
        } else {
            panic!("the generation ended without its data: {page}");
        }
        assert!(std::time::Instant::now() < end, "{location} did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn a_generation_runs_to_its_report(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let (ds, model) = conditioned_model(&app).await;
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let (_, page) = get_page(&app, &cookie, &format!("/models/{model}/generate")).await;
    let csrf = csrf_in(&page);
    let fields = [
        ("mode", "class"),
        ("rows", "300"),
        ("label", "Type"),
        ("class", "H"),
        ("seed", "3"),
        ("temperature", "1"),
        ("name", "ai4i-h"),
        ("max_exact_copies", "0"),
        ("max_close_share", "0.5"),
    ];
    let r = submit(&app, &cookie, model, &csrf, &fields).await;
    assert_eq!(r.status().as_u16(), 303);
    let location = header(&r, "location");
    assert!(location.starts_with("/generations/"), "{location}");
    let report = follow(&app, &cookie, &location).await;
    assert!(report.starts_with("/datasets/") && report.ends_with("/report"), "{report}");
    let (_, list) = app.get_json("/api/v1/datasets").await;
    let made =
        list["items"].as_array().unwrap().iter().find(|d| d["name"] == "ai4i-h").expect("the new dataset").clone();
    assert_eq!(made["row_count"], 300);
    let id = made["id"].as_i64().unwrap();
    assert_eq!(report, format!("/datasets/{id}/report"));

    let (status, page) = get_page(&app, &cookie, &report).await;
    assert_eq!(status, 200);
    for text in [
        "Torque [Nm]: real and synthetic",
        "synthetic (300 rows)",
        "real (10000 rows)",
        "share of rows",
        "Type: real and synthetic",
        "Correlation: synthetic minus real",
        "synthetic − real (Pearson r)",
        "Column shapes",
        "Detection score",
        "ROC AUC, fold 1",
        "Usefulness per class",
        "Macro F1",
        "Rows generated per class",
        "Privacy gate",
        "Exact copies of a training row",
        &format!("href=\"/datasets/{ds}?version=1\""),
        &format!("href=\"/models/{model}\""),
    ] {
        assert!(page.contains(text), "the report lacks {text}");
    }
    let numeric =
        ["Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]", "Tool wear [min]"];
    assert!(page.matches("<svg").count() > numeric.len() + 1, "a plot per column and the heat map");
    for n in numeric {
        assert!(page.contains(&format!("{n}: real and synthetic")), "no histogram of {n}");
    }
    assert!(!page.contains("NaN"), "no NaN on the page");
    assert_self_contained(&page);
    // the dataset page links to its report; a real dataset has none
    let (_, dataset_page) = get_page(&app, &cookie, &format!("/datasets/{id}")).await;
    assert!(dataset_page.contains(&format!("href=\"/datasets/{id}/report?version=1\"")));
    let (status, _) = get_page(&app, &cookie, &format!("/datasets/{ds}/report")).await;
    assert_eq!(status, 404);

    // plain samples with a condition become a dataset (no report)
    let fields = [("mode", "sample"), ("rows", "40"), ("condition.Type", "L"), ("seed", "1"), ("name", "ai4i-l")];
    let r = submit(&app, &cookie, model, &csrf, &fields).await;
    assert_eq!(r.status().as_u16(), 303);
    let next = follow(&app, &cookie, &header(&r, "location")).await;
    let (status, page) = get_page(&app, &cookie, &next).await;
    assert_eq!(status, 200);
    assert!(page.contains("ai4i-l") && page.contains("40 rows"), "{next}");
    // a generation page of a job that is no generation
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    let train =
        jobs["items"].as_array().unwrap().iter().find(|j| j["kind"] == "train").unwrap()["id"].as_i64().unwrap();
    let (status, _) = get_page(&app, &cookie, &format!("/generations/{train}")).await;
    assert_eq!(status, 404);
    app.stop().await;
}

on_both_stores!(the_forms_refuse_bad_input_by_field_and_store_nothing, a_generation_runs_to_its_report);
