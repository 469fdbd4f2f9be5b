//! Studies, schedules, jobs and tokens operated from the dashboard: create forms, next firings, retry, revoke.
//! Every refusal is checked against the JSON API: same field, same message, nothing stored.

use crate::helpers::*;
use crate::on_both_stores;
use crate::web::{browser, csrf_in, get_page, header, sign_in};
use chrono::{DateTime, SecondsFormat, Utc};
use genfab::jobs::scheduler::Cron;
use serde_json::{json, Value};

/// `POST path` as a browser form; answers (status, Location, body).
async fn post_form(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let r = browser().post(app.url(path)).header("cookie", cookie).form(form).send().await.unwrap();
    let (status, location) = (r.status().as_u16(), header(&r, "location"));
    (status, location, r.text().await.unwrap())
}

/// Text as maud writes it into HTML.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn unescaped(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The text of the page's first textarea.
fn textarea(page: &str) -> String {
    let start = page.find("<textarea").expect("a textarea");
    let open = start + page[start..].find('>').unwrap() + 1;
    let close = open + page[open..].find("</textarea>").unwrap();
    unescaped(&page[open..close])
}

/// The refusal a page shows, which names the field at fault.
fn assert_refused(page: &str, field: &str, detail: &str) {
    assert!(page.contains("role=\"alert\""), "no alert: {page}");
    assert!(page.contains(&format!("<code>{}</code>", escaped(field))), "the refusal does not name {field}");
    assert!(page.contains(&escaped(detail)), "the refusal lacks {detail:?}");
}

/// What the JSON API answers to the same request: (field, detail).
async fn api_refusal(app: &TestApp, path: &str, body: &Value) -> (String, String) {
    let p = assert_problem(app.post_json(path, body).await, 400, &[]).await;
    (p["field"].as_str().unwrap_or("").to_string(), p["detail"].as_str().unwrap().to_string())
}

async fn count(app: &TestApp, path: &str) -> usize {
    let (status, v) = app.get_json(path).await;
    assert_eq!(status, 200, "{path}: {v}");
    v["items"].as_array().unwrap().len()
}

fn concrete_spec(objective: &str) -> Value {
    json!({
        "variables": [
            {"name": "cement", "kind": "continuous"},
            {"name": "water", "kind": "continuous"},
            {"name": "age_days", "kind": "integer", "lo": 28, "hi": 28}
        ],
        "surrogates": [{"name": "strength", "target": "compressive_strength_mpa", "inputs": ["cement", "water", "age_days"],
            "model": {"kind": "linear", "degree": 2}}],
        "objectives": [{"name": "cement_kg", "expr": objective}],
        "constraints": [{"expr": "strength >= 30"}]
    })
}

async fn the_study_form_creates_a_study_or_names_the_field_at_fault(backend: Backend) {
    let app = spawn_app(backend).await;
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (status, page) = get_page(&app, &admin, "/studies").await;
    assert_eq!(status, 200);
    let option = format!("<option value=\"{ds}\">concrete ({ds})</option>");
    for text in
        ["action=\"/studies\"", "<label for=\"name\"", "<label for=\"dataset_id\"", "<label for=\"spec\"", &option]
    {
        assert!(page.contains(text), "the studies page lacks {text}");
    }
    let csrf = csrf_in(&page);
    let example = textarea(&page);
    let example_json: Value = serde_json::from_str(&example).expect("the example spec is JSON");
    for key in ["variables", "objectives", "constraints"] {
        assert!(example_json[key].as_array().is_some_and(|a| !a.is_empty()), "the example has {key}");
    }
    let ds_s = ds.to_string();

    // refusals: the form again with the API's field and message, the submitted values kept
    let bad_json = "{\"variables\": [";
    let (status, _, page) = post_form(
        &app,
        &admin,
        "/studies",
        &[("csrf", csrf.as_str()), ("name", "half <done>"), ("dataset_id", ""), ("spec", bad_json)],
    )
    .await;
    assert_eq!(status, 400);
    assert_refused(&page, "spec", "not valid JSON at line 1 column");
    assert!(page.contains("value=\"half &lt;done&gt;\""), "the name is kept");
    assert_eq!(textarea(&page), bad_json, "the spec is kept");
    for (spec, dataset, name) in [
        (concrete_spec("cement * density"), Some(ds), "unknown column"),
        (concrete_spec("cement * (water + "), Some(ds), "unfinished expression"),
        (concrete_spec("cement"), None, "no dataset"),
        (
            json!({"variables": [{"name": "x", "kind": "fuzzy"}], "objectives": [{"name": "x", "expr": "x"}]}),
            None,
            "bad kind",
        ),
        (example_json.clone(), None, ""),
    ] {
        let text = serde_json::to_string_pretty(&spec).unwrap();
        let d = dataset.map(|d| d.to_string()).unwrap_or_default();
        let form = [("csrf", csrf.as_str()), ("name", name), ("dataset_id", d.as_str()), ("spec", text.as_str())];
        let (status, _, page) = post_form(&app, &admin, "/studies", &form).await;
        assert_eq!(status, 400, "{name}");
        let (field, detail) =
            api_refusal(&app, "/api/v1/studies", &json!({"name": name, "dataset_id": dataset, "spec": spec})).await;
        assert_refused(&page, &field, &detail);
        assert_eq!(textarea(&page), text, "{name}: the spec is kept");
        if name == "unknown column" {
            assert_eq!(field, "spec.objectives[0].expr");
            assert!(detail.contains("density"), "{detail}");
        }
        if name == "unfinished expression" {
            assert_eq!(field, "spec.objectives[0].expr");
            assert!(detail.contains("expected") && detail.contains(" at "), "what and where: {detail}");
        }
        if name.is_empty() {
            assert_eq!(field, "name");
            assert!(page.contains("aria-invalid=\"true\""), "the name is marked invalid");
        }
    }
    // a forged form and a viewer are refused; a viewer is not offered the form
    let form =
        [("csrf", "0".repeat(32)), ("name", "forged".into()), ("dataset_id", "".into()), ("spec", example.clone())];
    let r = browser().post(app.url("/studies")).header("cookie", &admin).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let viewer = sign_in(&app, &app.token("viewer").await).await;
    let (_, page) = get_page(&app, &viewer, "/studies").await;
    assert!(!page.contains("action=\"/studies\""), "no form for a viewer");
    let vcsrf = csrf_in(&page);
    let form = [("csrf", vcsrf.as_str()), ("name", "viewer's"), ("dataset_id", ""), ("spec", example.as_str())];
    assert_eq!(post_form(&app, &viewer, "/studies", &form).await.0, 403);
    assert_eq!(count(&app, "/api/v1/studies").await, 0, "nothing stored by refused forms");

    // the pre-filled example, and a study on the dataset with a surrogate
    let form = [("csrf", csrf.as_str()), ("name", "bracket"), ("dataset_id", ""), ("spec", example.as_str())];
    let (status, location, _) = post_form(&app, &admin, "/studies", &form).await;
    assert_eq!(status, 303);
    let sid: i64 = location.strip_prefix("/studies/").expect("to the study").parse().unwrap();
    let (status, page) = get_page(&app, &admin, &location).await;
    assert_eq!(status, 200);
    assert!(page.contains("bracket") && page.contains(&format!("action=\"/studies/{sid}/runs\"")));
    let spec = serde_json::to_string(&concrete_spec("cement")).unwrap();
    let form =
        [("csrf", csrf.as_str()), ("name", "low cement"), ("dataset_id", ds_s.as_str()), ("spec", spec.as_str())];
    let (status, location, _) = post_form(&app, &admin, "/studies", &form).await;
    assert_eq!(status, 303);
    let (_, study) = app.get_json(&format!("/api/v1{location}")).await;
    assert_eq!((study["name"].as_str(), study["dataset_id"].as_i64()), (Some("low cement"), Some(ds)));
    assert_eq!(study["spec"]["variables"][0]["lo"], 102.0, "bounds from the data: {study}");
    assert_eq!(count(&app, "/api/v1/studies").await, 2);
    app.stop().await;
}

async fn the_run_form_starts_a_run_or_names_the_field_at_fault(backend: Backend) {
    let app = spawn_app(backend).await; // no worker: runs stay queued
    let spec = json!({
        "variables": [{"name": "x1", "kind": "continuous", "lo": -5, "hi": 10}, {"name": "x2", "kind": "continuous", "lo": 0, "hi": 15}],
        "objectives": [{"name": "a", "expr": "x1^2 + x2"}, {"name": "b", "expr": "(x1 - 2)^2", "goal": "maximize"}]
    });
    let r = app.post_json("/api/v1/studies", &json!({"name": "two goals", "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let runs = format!("/api/v1/studies/{sid}/runs");
    let action = format!("/studies/{sid}/runs");
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (_, page) = get_page(&app, &admin, &format!("/studies/{sid}")).await;
    for text in [
        "Start a run",
        &format!("action=\"{action}\""),
        "<label for=\"solver\"",
        "<label for=\"budget\"",
        "<label for=\"seed\"",
    ] {
        assert!(page.contains(text), "the study page lacks {text}");
    }
    assert!(page.contains("<option value=\"nsga2\" selected"), "a two-objective study suggests NSGA-II");
    let csrf = csrf_in(&page);
    for (solver, budget, seed, field, api_body) in [
        ("random", "-5", "0", "budget", json!({"solver": "random", "budget": 0})),
        ("random", "lots", "0", "budget", json!({"solver": "random", "budget": 0})),
        ("random", "0", "0", "budget", json!({"solver": "random", "budget": 0})),
        ("gradient_magic", "10", "0", "solver", json!({"solver": "gradient_magic", "budget": 10})),
        ("nelder_mead", "10", "0", "solver", json!({"solver": "nelder_mead", "budget": 10})),
        ("random", "10", "-1", "seed", json!({"solver": "random", "budget": 10, "seed": u64::MAX})),
    ] {
        let form = [("csrf", csrf.as_str()), ("solver", solver), ("budget", budget), ("seed", seed)];
        let (status, _, page) = post_form(&app, &admin, &action, &form).await;
        assert_eq!(status, 400, "{solver} {budget} {seed}");
        let (api_field, detail) = api_refusal(&app, &runs, &api_body).await;
        assert_eq!(api_field, field);
        assert_refused(&page, field, &detail);
        assert!(page.contains(&format!("value=\"{}\"", escaped(budget))), "the budget is kept");
    }
    let form = [("csrf", "0".repeat(32)), ("solver", "random".into()), ("budget", "10".into()), ("seed", "0".into())];
    let r = browser().post(app.url(&action)).header("cookie", &admin).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let viewer = sign_in(&app, &app.token("viewer").await).await;
    let (_, page) = get_page(&app, &viewer, &format!("/studies/{sid}")).await;
    assert!(!page.contains("Start a run"), "no run form for a viewer");
    let form = [("csrf", csrf_in(&page)), ("solver", "random".into()), ("budget", "10".into()), ("seed", "0".into())];
    let r = browser().post(app.url(&action)).header("cookie", &viewer).form(&form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(count(&app, &runs).await, 0, "nothing stored by refused forms");

    let form = [("csrf", csrf.as_str()), ("solver", "nsga2"), ("budget", "60"), ("seed", "7")];
    let (status, location, _) = post_form(&app, &admin, &action, &form).await;
    assert_eq!(status, 303);
    let rid: i64 = location.strip_prefix("/runs/").expect("to the run").parse().unwrap();
    let (_, run) = app.get_json(&format!("/api/v1/runs/{rid}")).await;
    assert_eq!(
        (run["solver"].as_str(), run["budget"].as_i64(), run["seed"].as_i64()),
        (Some("nsga2"), Some(60), Some(7))
    );
    assert_eq!(run["status"], "queued");
    assert_eq!(get_page(&app, &admin, &location).await.0, 200);
    assert_eq!(count(&app, &runs).await, 1);
    assert_eq!(post_form(&app, &admin, "/studies/9999/runs", &form).await.0, 404);
    app.stop().await;
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a time").parse().unwrap()
}

fn datetime_attr(t: &DateTime<Utc>) -> String {
    format!("datetime=\"{}\"", t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

async fn the_schedules_page_shows_the_next_firings_and_its_buttons_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let noop = json!({"steps": [{"kind": "noop"}]});
    let mut ids = vec![];
    for (name, cron, tz) in
        [("nightly", "30 2 * * *", "Europe/Berlin"), ("hourly", "0 * * * *", "UTC"), ("weekly", "0 6 * * 1", "UTC")]
    {
        let body = json!({"name": name, "cron": cron, "timezone": tz, "template": noop});
        let r = app.post_json("/api/v1/schedules", &body).await;
        assert_eq!(r.status().as_u16(), 201);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let (nightly, hourly, weekly) = (ids[0], ids[1], ids[2]);
    assert_eq!(app.post_json(&format!("/api/v1/schedules/{weekly}/pause"), &json!({})).await.status().as_u16(), 200);
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (status, page) = get_page(&app, &admin, "/schedules").await;
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/schedules\" aria-current=\"page\""), "in the navigation");
    // the first firing is the API's next_fire_at; the two after it are the cron's next slots
    for (id, cron, tz) in [(nightly, "30 2 * * *", "Europe/Berlin"), (hourly, "0 * * * *", "UTC")] {
        let (_, s) = app.get_json(&format!("/api/v1/schedules/{id}")).await;
        let first = instant(&s["next_fire_at"]);
        let c = Cron::parse(cron, tz).unwrap();
        let second = c.next_after(first).unwrap();
        let third = c.next_after(second).unwrap();
        for t in [first, second, third] {
            assert!(page.contains(&datetime_attr(&t)), "schedule {id}: {t} not on the page");
        }
        assert!(
            page.contains(&format!("datetime=\"{}\"", s["next_fire_at"].as_str().unwrap())),
            "as the API writes it"
        );
    }
    assert!(page.contains("Europe/Berlin") && page.contains("<code>30 2 * * *</code>"));
    let (_, w) = app.get_json(&format!("/api/v1/schedules/{weekly}")).await;
    assert!(w["next_fire_at"].is_null());
    // the overview: the soonest slot of each active schedule, none of the paused one
    let (_, overview) = get_page(&app, &admin, "/").await;
    let (_, h) = app.get_json(&format!("/api/v1/schedules/{hourly}")).await;
    assert!(overview.contains("Next scheduled runs") && overview.contains("hourly") && overview.contains("nightly"));
    assert!(overview.contains(&datetime_attr(&instant(&h["next_fire_at"]))));
    assert!(!overview.contains("weekly"), "a paused schedule has no next run");
    let (_, n) = app.get_json(&format!("/api/v1/schedules/{nightly}")).await;
    let hourly_first = instant(&h["next_fire_at"]) < instant(&n["next_fire_at"]);
    assert_eq!(overview.find("hourly").unwrap() < overview.find("nightly").unwrap(), hourly_first, "soonest first");

    // buttons: refused without the session's token or the role
    let csrf = csrf_in(&page);
    for action in ["pause", "resume", "run", "delete"] {
        assert!(page.contains(&format!("action=\"/schedules/{hourly}/{}\"", action)) || action == "resume");
    }
    let zeros = "0".repeat(32);
    assert_eq!(
        post_form(&app, &admin, &format!("/schedules/{hourly}/pause"), &[("csrf", zeros.as_str())]).await.0,
        403
    );
    let viewer = sign_in(&app, &app.token("viewer").await).await;
    let (_, vpage) = get_page(&app, &viewer, "/schedules").await;
    assert!(vpage.contains("hourly") && !vpage.contains("/pause\""), "a viewer sees schedules, no buttons");
    let vcsrf = csrf_in(&vpage);
    for action in ["pause", "run", "delete"] {
        let path = format!("/schedules/{hourly}/{action}");
        assert_eq!(post_form(&app, &viewer, &path, &[("csrf", vcsrf.as_str())]).await.0, 403, "{action}");
    }
    let (_, h) = app.get_json(&format!("/api/v1/schedules/{hourly}")).await;
    assert_eq!(h["paused"], false);
    assert_eq!(count(&app, "/api/v1/jobs").await, 0);

    // pause, resume, run now, delete
    let form = [("csrf", csrf.as_str())];
    let (status, location, _) = post_form(&app, &admin, &format!("/schedules/{hourly}/pause"), &form).await;
    assert_eq!((status, location.as_str()), (303, "/schedules"));
    let (_, h) = app.get_json(&format!("/api/v1/schedules/{hourly}")).await;
    assert_eq!(h["paused"], true);
    let (_, page) = get_page(&app, &admin, "/schedules").await;
    assert!(page.contains(&format!("action=\"/schedules/{hourly}/resume\"")));
    let (status, _, _) = post_form(&app, &admin, &format!("/schedules/{hourly}/resume"), &form).await;
    assert_eq!(status, 303);
    let (_, h) = app.get_json(&format!("/api/v1/schedules/{hourly}")).await;
    assert_eq!(h["paused"], false);
    assert!(instant(&h["next_fire_at"]) > Utc::now());
    let (status, location, _) = post_form(&app, &admin, &format!("/schedules/{nightly}/run"), &form).await;
    assert_eq!((status, location.as_str()), (303, "/jobs"));
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (jobs["items"][0]["kind"].as_str(), jobs["items"][0]["schedule_id"].as_i64()),
        (Some("noop"), Some(nightly))
    );
    let (_, page) = get_page(&app, &admin, "/schedules").await;
    let (_, n) = app.get_json(&format!("/api/v1/schedules/{nightly}")).await;
    assert!(page.contains(&datetime_attr(&instant(&n["last_fired_at"]))), "the last firing is shown");
    let (status, _, _) = post_form(&app, &admin, &format!("/schedules/{weekly}/delete"), &form).await;
    assert_eq!(status, 303);
    assert_eq!(app.get_json(&format!("/api/v1/schedules/{weekly}")).await.0, 404);
    assert_eq!(post_form(&app, &admin, &format!("/schedules/{weekly}/pause"), &form).await.0, 404);
    assert_eq!(post_form(&app, &admin, &format!("/schedules/{hourly}/paint"), &form).await.0, 404);
    assert_eq!(count(&app, "/api/v1/schedules").await, 2);
    app.stop().await;
}

async fn retry_queues_a_new_job_for_a_failed_or_cancelled_one(backend: Backend) {
    let app = spawn_app(backend).await; // the test drives the worker
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let spec = json!({"hidden": [8], "latent": 2, "epochs": 2, "batch_size": 64, "threads": 1});
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 202);
    let m: Value = r.json().await.unwrap();
    let model = m["id"].as_i64().unwrap();
    let job = m["job"]["id"].as_i64().or(m["job_id"].as_i64()).unwrap();
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (_, page) = get_page(&app, &admin, "/jobs").await;
    let csrf = csrf_in(&page);
    let retry = format!("/jobs/{job}/retry");
    assert!(!page.contains(&format!("action=\"{retry}\"")), "a queued job is not offered a retry");
    let (status, _, page) = post_form(&app, &admin, &retry, &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, 409);
    assert!(page.contains("only a failed or cancelled job"), "{page}");
    assert_eq!(app.post_json(&format!("/api/v1/jobs/{job}/cancel"), &json!({})).await.status().as_u16(), 200);
    let (_, page) = get_page(&app, &admin, "/jobs").await;
    assert!(page.contains(&format!("action=\"{retry}\"")), "a cancelled job can be retried");
    // refused without the session's token or the role
    let zeros = "0".repeat(32);
    assert_eq!(post_form(&app, &admin, &retry, &[("csrf", zeros.as_str())]).await.0, 403);
    let viewer = sign_in(&app, &app.token("viewer").await).await;
    let (_, vpage) = get_page(&app, &viewer, "/jobs").await;
    assert!(!vpage.contains("/retry\""), "no retry for a viewer");
    let vcsrf = csrf_in(&vpage);
    assert_eq!(post_form(&app, &viewer, &retry, &[("csrf", vcsrf.as_str())]).await.0, 403);
    assert_eq!(count(&app, "/api/v1/jobs").await, 1);

    let (status, location, _) = post_form(&app, &admin, &retry, &[("csrf", csrf.as_str())]).await;
    assert_eq!((status, location.as_str()), (303, "/jobs"));
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    let items = jobs["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let new = &items[0];
    let new_id = new["id"].as_i64().unwrap();
    assert_ne!(new_id, job);
    assert_eq!((new["kind"].as_str(), new["status"].as_str()), (Some("train"), Some("queued")));
    assert_eq!(new["payload"], items[1]["payload"], "the same work");
    assert_eq!((items[1]["id"].as_i64(), items[1]["status"].as_str()), (Some(job), Some("cancelled")), "history kept");
    let (_, m) = app.get_json(&format!("/api/v1/models/{model}")).await;
    assert_eq!((m["job_id"].as_i64(), m["status"].as_str()), (Some(new_id), Some("queued")), "the model moved: {m}");
    // the old job's work belongs to the new one now
    let (status, _, page) = post_form(&app, &admin, &retry, &[("csrf", csrf.as_str())]).await;
    assert_eq!(status, 409);
    assert!(page.contains(&format!("job {new_id}")), "names the newer job");
    assert_eq!(count(&app, "/api/v1/jobs").await, 2);
    assert_eq!(post_form(&app, &admin, "/jobs/99999/retry", &[("csrf", csrf.as_str())]).await.0, 404);

    // the jobs page filters by status; the overview counts with the store, not from a list
    let (_, cancelled) = get_page(&app, &admin, "/jobs?status=cancelled").await;
    assert!(cancelled.contains("<title>Jobs: cancelled") && cancelled.contains(&format!("/jobs/{job}/retry")));
    assert!(!cancelled.contains(&format!("/jobs/{new_id}/cancel")), "the queued job is not a cancelled one");
    let (_, queued) = get_page(&app, &admin, "/jobs?status=queued").await;
    assert!(queued.contains(&format!("/jobs/{new_id}/cancel")) && !queued.contains(&retry), "{queued}");
    let (status, odd) = get_page(&app, &admin, "/jobs?status=lost").await;
    assert_eq!(status, 200);
    assert!(odd.contains("There is no job status 'lost'") && odd.contains(&retry), "all are listed");
    let (_, overview) = get_page(&app, &admin, "/").await;
    for card in [
        "1</div><a href=\"/datasets\">datasets",
        "1</div><a href=\"/models\">models",
        "1</div><a href=\"/jobs?status=queued\">queued jobs",
    ] {
        assert!(overview.contains(card), "the overview lacks {card}");
    }

    // the retried job trains the model
    let store = app.store().await;
    let step = genfab::jobs::try_execute_job(&store, "test-worker", &fast_worker()).await.unwrap();
    assert_eq!(step, genfab::jobs::Step::Ran(new_id));
    let (_, m) = app.get_json(&format!("/api/v1/models/{model}")).await;
    assert_eq!(m["status"], "ready", "{m}");

    // a job of a schedule keeps its schedule
    let s: Value = app
        .post_json(
            "/api/v1/schedules",
            &json!({"name": "n", "cron": "0 2 * * *", "template": {"steps": [{"kind": "noop"}]}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let fired: Value =
        app.post_json(&format!("/api/v1/schedules/{}/run", s["id"]), &json!({})).await.json().await.unwrap();
    let noop = fired["jobs"][0]["id"].as_i64().unwrap();
    app.post_json(&format!("/api/v1/jobs/{noop}/cancel"), &json!({})).await;
    assert_eq!(post_form(&app, &admin, &format!("/jobs/{noop}/retry"), &[("csrf", csrf.as_str())]).await.0, 303);
    let (_, again) = app.get_json("/api/v1/jobs?kind=noop&status=queued").await;
    assert_eq!(again["items"][0]["schedule_id"], s["id"]);
    app.stop().await;
}

async fn tokens_are_created_shown_once_and_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (status, page) = get_page(&app, &admin, "/admin").await;
    assert_eq!(status, 200);
    for text in ["action=\"/admin/tokens\"", "<label for=\"token-name\"", "<label for=\"token-role\"", "this session"] {
        assert!(page.contains(text), "the admin page lacks {text}");
    }
    let csrf = csrf_in(&page);
    let before = count(&app, "/api/v1/tokens").await;
    let long = "x".repeat(129);
    for (name, role, field) in [("", "viewer", "name"), ("line 3", "wizard", "role"), (long.as_str(), "mes", "name")] {
        let (status, _, page) =
            post_form(&app, &admin, "/admin/tokens", &[("csrf", csrf.as_str()), ("name", name), ("role", role)]).await;
        assert_eq!(status, 400, "{name} {role}");
        let (api_field, detail) = api_refusal(&app, "/api/v1/tokens", &json!({"name": name, "role": role})).await;
        assert_eq!(api_field, field);
        assert_refused(&page, field, &detail);
        assert!(page.contains(&format!("value=\"{}\"", escaped(name))), "the name is kept");
    }
    let good = [("name", "line 3 MES"), ("role", "mes")];
    let zeros = "0".repeat(32);
    let forged = [("csrf", zeros.as_str()), good[0], good[1]];
    assert_eq!(post_form(&app, &admin, "/admin/tokens", &forged).await.0, 403);
    let engineer = sign_in(&app, &app.token("engineer").await).await;
    assert_eq!(get_page(&app, &engineer, "/admin").await.0, 403);
    let ecsrf = csrf_in(&get_page(&app, &engineer, "/jobs").await.1);
    assert_eq!(post_form(&app, &engineer, "/admin/tokens", &[("csrf", ecsrf.as_str()), good[0], good[1]]).await.0, 403);
    assert_eq!(count(&app, "/api/v1/tokens").await, before + 1, "only the engineer's own token was added");

    let (status, _, page) =
        post_form(&app, &admin, "/admin/tokens", &[("csrf", csrf.as_str()), good[0], good[1]]).await;
    assert_eq!(status, 200);
    assert!(page.contains("shown only on this page"));
    let at = page.find("id=\"secret\"").expect("the secret");
    let value = at + page[at..].find("value=\"").unwrap() + 7;
    let secret = page[value..value + page[value..].find('"').unwrap()].to_string();
    assert!(secret.len() >= 16, "{secret}");
    let (_, list) = app.get_json("/api/v1/tokens").await;
    let info = list["items"].as_array().unwrap().iter().find(|t| t["name"] == "line 3 MES").expect("stored").clone();
    assert_eq!(info["role"], "mes");
    let id = info["id"].as_i64().unwrap();
    let mes = sign_in(&app, &secret).await;
    assert_eq!(get_page(&app, &mes, "/").await.0, 200);
    let (_, page) = get_page(&app, &admin, "/admin").await;
    assert!(!page.contains(&secret), "the secret is shown once");
    let revoke = format!("/admin/tokens/{id}/revoke");
    assert!(page.contains(&format!("action=\"{revoke}\"")));

    assert_eq!(post_form(&app, &admin, &revoke, &[("csrf", zeros.as_str())]).await.0, 403);
    assert_eq!(post_form(&app, &engineer, &revoke, &[("csrf", ecsrf.as_str())]).await.0, 403);
    assert_eq!(get_page(&app, &mes, "/").await.0, 200, "still valid");
    let (status, location, _) = post_form(&app, &admin, &revoke, &[("csrf", csrf.as_str())]).await;
    assert_eq!((status, location.as_str()), (303, "/admin"));
    let (_, list) = app.get_json("/api/v1/tokens").await;
    let info = list["items"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    assert!(info["revoked_at"].is_string(), "{info}");
    // a revoked token signs in no more, and its session has ended
    let r = browser().post(app.url("/login")).form(&[("token", secret.as_str()), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(get_page(&app, &mes, "/").await.0, 303);
    let (_, page) = get_page(&app, &admin, "/admin").await;
    assert!(!page.contains(&format!("action=\"{revoke}\"")), "no revoke for a revoked token");
    assert_eq!(post_form(&app, &admin, "/admin/tokens/99999/revoke", &[("csrf", csrf.as_str())]).await.0, 404);
    app.stop().await;
}

on_both_stores!(
    the_study_form_creates_a_study_or_names_the_field_at_fault,
    the_run_form_starts_a_run_or_names_the_field_at_fault,
    the_schedules_page_shows_the_next_firings_and_its_buttons_work,
    retry_queues_a_new_job_for_a_failed_or_cancelled_one,
    tokens_are_created_shown_once_and_revoked
);
