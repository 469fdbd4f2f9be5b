//! Training from the dashboard: the form (labelled, at the API's defaults, for creators only),
//! refusals that name the field and store nothing, and a trained model's page with its live
//! loss curves and latent-space map.

use crate::helpers::*;
use crate::on_both_stores;
use crate::web::{assert_self_contained, browser, csrf_in, get_page, header, sign_in};
use serde_json::{json, Value};

/// Every input of the form, by id.
const INPUTS: [&str; 9] =
    ["dataset_id", "name", "epochs", "latent", "hidden", "batch_size", "learning_rate", "seed", "condition"];

/// A valid form for dataset `ds`: a small, quick network.
fn good_form(csrf: &str, ds: i64) -> Vec<(&'static str, String)> {
    [
        ("csrf", csrf.to_string()),
        ("dataset_id", ds.to_string()),
        ("name", "press <3> model".into()),
        ("epochs", "10".into()),
        ("latent", "3".into()),
        ("hidden", "16".into()),
        ("batch_size", "256".into()),
        ("learning_rate", "0.005".into()),
        ("seed", "3".into()),
        ("condition", String::new()),
    ]
    .into_iter()
    .collect()
}

/// `form` with `key` set to `value` (or left out when `None`).
fn with(form: &[(&'static str, String)], key: &str, value: Option<&str>) -> Vec<(&'static str, String)> {
    form.iter()
        .filter_map(|(k, v)| match (*k == key, value) {
            (false, _) => Some((*k, v.clone())),
            (true, Some(new)) => Some((*k, new.to_string())),
            (true, None) => None,
        })
        .collect()
}

async fn post_form(app: &TestApp, cookie: &str, form: &[(&'static str, String)]) -> reqwest::Response {
    browser().post(app.url("/models/new")).header("cookie", cookie).form(form).send().await.unwrap()
}

/// The text of the inline error paragraph of input `id`.
fn error_of(page: &str, id: &str) -> String {
    let tag = format!("<p class=\"error\" role=\"alert\" id=\"{id}-error\">");
    let at = page.find(&tag).unwrap_or_else(|| panic!("no error shown at {id}:\n{page}")) + tag.len();
    page[at..at + page[at..].find("</p>").unwrap()].to_string()
}

async fn models_in_store(app: &TestApp) -> usize {
    let (status, list) = app.get_json("/api/v1/models").await;
    assert_eq!(status, 200);
    list["items"].as_array().unwrap().len()
}

async fn the_form_has_labels_and_the_api_defaults_and_only_creators_get_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (_, list) = get_page(&app, &admin, "/models").await;
    assert!(list.contains("href=\"/models/new\""), "the models page offers training");
    let (status, page) = get_page(&app, &admin, &format!("/models/new?dataset={ds}")).await;
    assert_eq!(status, 200, "{page}");
    assert_self_contained(&page);
    for id in INPUTS {
        assert!(page.contains(&format!("<label for=\"{id}\"")), "no label for {id}");
        assert!(page.contains(&format!("id=\"{id}\"")), "no input {id}");
    }
    // the API's defaults (VaeParams::default())
    for (name, value) in [
        ("epochs", "100"),
        ("latent", "16"),
        ("hidden", "128, 128"),
        ("batch_size", "256"),
        ("learning_rate", "0.001"),
        ("seed", "0"),
    ] {
        assert!(page.contains(&format!("name=\"{name}\" value=\"{value}\"")), "{name} is not {value} by default");
    }
    assert!(page.contains(&format!("<option value=\"{ds}\" selected>")), "?dataset preselects");
    assert!(page.contains("<optgroup label=\"ai4i\">"), "condition columns grouped by dataset");
    for c in ["Type", "Machine failure"] {
        assert!(page.contains(&format!("<option value=\"{c}\">")), "{c} is offered as a condition");
    }
    assert!(!page.contains("<option value=\"Air temperature [K]\">"), "only categorical columns condition");
    assert_eq!(csrf_in(&page).len(), 32);
    let (_, page) = get_page(&app, &admin, "/models/new").await;
    assert!(page.contains("<option value=\"\" selected>Choose a dataset"), "no dataset chosen by default");
    // a viewer is offered nothing and refused both ways, even with its own valid form token
    let viewer = sign_in(&app, &app.token("viewer").await).await;
    let (_, list) = get_page(&app, &viewer, "/models").await;
    assert!(!list.contains("/models/new"), "no training link for a viewer");
    let (status, _) = get_page(&app, &viewer, "/models/new").await;
    assert_eq!(status, 403);
    let r = post_form(&app, &viewer, &good_form(&csrf_in(&list), ds)).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(models_in_store(&app).await, 0);
    app.stop().await;
}

async fn bad_submissions_name_the_field_keep_the_values_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let (_, page) = get_page(&app, &cookie, "/models/new").await;
    let good = good_form(&csrf_in(&page), ds);
    for (key, value, input, needle, kept) in [
        ("dataset_id", None, "dataset_id", "choose a dataset", None),
        ("epochs", Some("0"), "epochs", "epochs must be at least 1", Some("name=\"epochs\" value=\"0\"")),
        (
            "learning_rate",
            Some("-0.1"),
            "learning_rate",
            "learning rate must be positive and finite, got -0.1",
            Some("name=\"learning_rate\" value=\"-0.1\""),
        ),
        ("dataset_id", Some("99999"), "dataset_id", "dataset 99999 does not exist", None),
        ("hidden", Some("16, wide"), "hidden", "spec:", Some("name=\"hidden\" value=\"16, wide\"")),
        ("latent", Some(""), "latent", "Latent dimensions: enter a value", None),
        ("condition", Some("nope"), "condition", "condition column 'nope' is not a modelled column", None),
    ] {
        let r = post_form(&app, &cookie, &with(&good, key, value)).await;
        assert_eq!(r.status().as_u16(), 400, "{key}={value:?}");
        let page = r.text().await.unwrap();
        let error = error_of(&page, input);
        assert!(error.contains(needle), "{key}={value:?}: the error at {input} is {error:?}");
        assert!(page.contains(&format!("aria-describedby=\"{input}-error")), "{input} points at its error");
        assert!(page.contains("Nothing was queued"), "{key}={value:?}");
        if let Some(kept) = kept {
            assert!(page.contains(kept), "{key}={value:?}: the value typed is kept");
        }
        // the other values are kept too
        assert!(page.contains("value=\"press &lt;3&gt; model\""), "{key}={value:?}: the name is kept");
        assert_self_contained(&page);
    }
    // two bad fields: both named at once
    let r = post_form(&app, &cookie, &with(&with(&good, "epochs", Some("0")), "batch_size", Some("0"))).await;
    assert_eq!(r.status().as_u16(), 400);
    let page = r.text().await.unwrap();
    assert!(error_of(&page, "epochs").contains("epochs must be at least 1"));
    assert!(error_of(&page, "batch_size").contains("batch size must be at least 1"));
    // the API's words, not the form's own
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": {"epochs": 0}})).await;
    let p = assert_problem(r, 400, &["epochs must be at least 1"]).await;
    let (_, page) = get_page(&app, &cookie, "/models/new").await;
    let r = post_form(&app, &cookie, &with(&good_form(&csrf_in(&page), ds), "epochs", Some("0"))).await;
    assert_eq!(error_of(&r.text().await.unwrap(), "epochs"), p["detail"].as_str().unwrap());
    // a forged form (wrong or no token) is refused before anything is looked at
    let r = post_form(&app, &cookie, &with(&good, "csrf", Some(&"0".repeat(32)))).await;
    assert_eq!(r.status().as_u16(), 403);
    let r = post_form(&app, &cookie, &with(&good, "csrf", None)).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(models_in_store(&app).await, 0, "no refused form stored a model");
    app.stop().await;
}

async fn a_good_submission_trains_live_and_ends_with_loss_curves_and_a_latent_map(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let (_, page) = get_page(&app, &cookie, &format!("/models/new?dataset={ds}")).await;
    let r = post_form(&app, &cookie, &good_form(&csrf_in(&page), ds)).await;
    assert_eq!(r.status().as_u16(), 303);
    let location = header(&r, "location");
    let id: i64 = location.strip_prefix("/models/").and_then(|i| i.parse().ok()).expect("a model page");
    // while queued or training the page reloads itself and says how far it is
    let (status, page) = get_page(&app, &cookie, &location).await;
    assert_eq!(status, 200);
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"2\">"), "a live page reloads");
    assert!(page.contains(" of 10"), "progress as epoch N of M");
    assert_self_contained(&page);
    // the same model the API would have made from this spec
    let (_, m) = app.get_json(&format!("/api/v1/models/{id}")).await;
    assert_eq!(m["name"], "press <3> model");
    assert_eq!(m["dataset"]["id"], ds);
    for (k, v) in
        [("epochs", json!(10)), ("latent", json!(3)), ("hidden", json!([16])), ("learning_rate", json!(0.005))]
    {
        assert_eq!(m["spec"][k], v, "{k}: {m}");
    }
    assert_eq!(m["spec"]["conditions"], json!([]));
    let done: Value = app
        .wait_until(&format!("/api/v1/models/{id}"), 300, |m| {
            !matches!(m["status"].as_str(), Some("queued" | "training"))
        })
        .await;
    assert_eq!(done["status"], "ready", "{done}");
    let (status, page) = get_page(&app, &cookie, &location).await;
    assert_eq!(status, 200);
    assert!(!page.contains("http-equiv=\"refresh\""), "a finished page stays put");
    assert!(!page.contains("role=\"status\""), "no progress line once trained");
    for text in [
        "Loss per epoch",
        "Latent space",
        "Latent space by Machine failure",
        "Machine failure = false",
        "Machine failure = true",
        "2000 rows of dataset",
        "onto their two principal axes",
        "<label for=\"color\"",
        "<option value=\"Machine failure\" selected>",
    ] {
        assert!(page.contains(text), "the trained model's page lacks {text}");
    }
    assert!(page.matches("<svg").count() >= 3, "loss, KL and the latent map");
    assert_self_contained(&page);
    // another colour, one group, and a column that does not exist
    let (_, page) = get_page(&app, &cookie, &format!("{location}?color=Type")).await;
    assert!(page.contains("Type = L") && page.contains("Type = M") && page.contains("Type = H"), "colour by Type");
    let (_, page) = get_page(&app, &cookie, &format!("{location}?color=")).await;
    assert!(page.contains("all rows") && !page.contains("Machine failure = true"), "one group");
    let (status, page) = get_page(&app, &cookie, &format!("{location}?color=nope")).await;
    assert_eq!(status, 200);
    assert!(page.contains("no categorical column &#39;nope&#39;") || page.contains("no categorical column 'nope'"));
    app.stop().await;
}

on_both_stores!(
    the_form_has_labels_and_the_api_defaults_and_only_creators_get_it,
    bad_submissions_name_the_field_keep_the_values_and_store_nothing,
    a_good_submission_trains_live_and_ends_with_loss_curves_and_a_latent_map
);
