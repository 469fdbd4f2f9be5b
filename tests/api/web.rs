//! The dashboard over real HTTP: sign-in and its cookie, security headers, pages built from the
//! store, CSRF-protected forms and what each role is offered. (Browser tests drive the same pages.)

use crate::helpers::*;
use crate::on_both_stores;
use serde_json::{json, Value};

/// A client that shows redirects instead of following them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Signs in with `token`; returns the `Cookie` header value to send.
pub async fn sign_in(app: &TestApp, token: &str) -> String {
    let r = browser().post(app.url("/login")).form(&[("token", token), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let set = header(&r, "set-cookie");
    set.split(';').next().unwrap().to_string()
}

pub async fn get_page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = browser().get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// The CSRF token a page's forms carry.
pub fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF field") + 19;
    page[at..at + 32].to_string()
}

/// Nothing on the page comes from another host (plots' SVG namespaces are names, not fetches).
pub fn assert_self_contained(page: &str) {
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "<script"] {
        assert!(!page.contains(attr), "the page holds {attr}");
    }
}

async fn sign_in_sets_a_strict_http_only_cookie_and_pages_need_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = browser();
    let r = c.get(app.url("/datasets?x=1")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(header(&r, "location"), "/login?next=/datasets%3Fx%3D1");
    let r = c.get(app.url("/login?next=/datasets")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let csp = header(&r, "content-security-policy");
    assert!(csp.contains("script-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(&r, "x-frame-options"), "DENY");
    assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    let page = r.text().await.unwrap();
    assert!(page.contains("<label for=\"token\"") && page.contains("value=\"/datasets\""), "{page}");
    assert_self_contained(&page);
    // a wrong token: the form again, no cookie
    let r = c.post(app.url("/login")).form(&[("token", "not-a-token"), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(header(&r, "set-cookie").is_empty());
    assert!(r.text().await.unwrap().contains("unknown or revoked"));
    // the right one: a strict, HttpOnly cookie and only local redirects
    let r = c
        .post(app.url("/login"))
        .form(&[("token", app.admin.as_str()), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "location")), (303, "/".to_string()));
    let set = header(&r, "set-cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let r =
        c.post(app.url("/login")).form(&[("token", app.admin.as_str()), ("next", "/detectors")]).send().await.unwrap();
    assert_eq!(header(&r, "location"), "/detectors");
    let (status, page) = get_page(&app, &cookie, "/").await;
    assert_eq!(status, 200);
    for text in ["Overview", "Running jobs", "Recent anomalies", "Next scheduled runs", "href=\"/admin\""] {
        assert!(page.contains(text), "overview lacks {text}");
    }
    assert_self_contained(&page);
    let r = c.get(app.url("/static/genfab.css")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(header(&r, "content-type").starts_with("text/css"));
    // a forged cookie is no session
    let (status, _) = get_page(&app, "genfab_session=forged", "/").await;
    assert_eq!(status, 303);
    app.stop().await;
}

async fn pages_show_datasets_models_detectors_and_jobs(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let ds = app.dataset("steel-plates", "steel-plates-faults/steel_plates_faults.csv").await;
    let (status, page) = get_page(&app, &cookie, "/datasets").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("href=\"/datasets/{ds}\"")) && page.contains("steel-plates"));
    let (status, page) = get_page(&app, &cookie, &format!("/datasets/{ds}")).await;
    assert_eq!(status, 200);
    for text in ["Schema", "Versions", "<svg", "Pixels_Areas", "(histogram)", "(counts)"] {
        assert!(page.contains(text), "the dataset page lacks {text}");
    }
    assert!(page.matches("<svg").count() >= 20, "one plot per column");
    assert_self_contained(&page);
    let r = browser().get(app.url(&format!("/datasets/{ds}/download"))).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(header(&r, "content-type").starts_with("text/csv"));
    assert!(r.text().await.unwrap().starts_with("X_Minimum,"));
    let (status, _) = get_page(&app, &cookie, "/datasets/9999").await;
    assert_eq!(status, 404);
    // a model's loss curves
    let r = app
        .post_json(
            "/api/v1/models",
            &json!({"dataset_id": ds, "name": "<b>bold</b> & co", "spec": {"hidden": [16], "latent": 2, "epochs": 5}}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let m: Value = r.json().await.unwrap();
    let model = m["id"].as_i64().unwrap();
    app.wait_job(m["job"]["id"].as_i64().or(m["job_id"].as_i64()).unwrap(), 120).await;
    let (status, page) = get_page(&app, &cookie, &format!("/models/{model}")).await;
    assert_eq!(status, 200);
    for text in ["Loss per epoch", "validation", "KL per epoch", "epoch"] {
        assert!(page.contains(text), "the model page lacks {text}");
    }
    let (_, page) = get_page(&app, &cookie, "/models").await;
    assert!(page.contains(&format!("href=\"/models/{model}\"")));
    assert!(page.contains("&lt;b&gt;bold&lt;/b&gt; &amp; co") && !page.contains("<b>bold"), "names are escaped");
    let (_, page) = get_page(&app, &cookie, "/jobs").await;
    assert!(page.contains("train") && page.contains("succeeded"));
    for path in ["/studies", "/detectors", "/admin"] {
        let (status, page) = get_page(&app, &cookie, path).await;
        assert_eq!(status, 200, "{path}");
        assert_self_contained(&page);
    }
    app.stop().await;
}

async fn forms_need_the_session_csrf_token_and_roles_limit_what_is_offered(backend: Backend) {
    let app = spawn_app(backend).await; // no worker: jobs stay queued
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds})).await;
    assert_eq!(r.status().as_u16(), 202);
    let m: Value = r.json().await.unwrap();
    let job = m["job"]["id"].as_i64().or(m["job_id"].as_i64()).unwrap();
    let admin = sign_in(&app, &app.admin.clone()).await;
    let (_, page) = get_page(&app, &admin, "/jobs").await;
    assert!(page.contains(&format!("action=\"/jobs/{job}/cancel\"")), "a queued job can be cancelled");
    let csrf = csrf_in(&page);
    let cancel = |cookie: String, token: String| {
        let url = app.url(&format!("/jobs/{job}/cancel"));
        async move { browser().post(url).header("cookie", cookie).form(&[("csrf", token)]).send().await.unwrap() }
    };
    // a forged form (another site cannot know the token) changes nothing
    let r = cancel(admin.clone(), "0".repeat(32)).await;
    assert_eq!(r.status().as_u16(), 403);
    let r = browser().post(app.url(&format!("/jobs/{job}/cancel"))).header("cookie", &admin).send().await.unwrap();
    assert!(r.status().is_client_error(), "no token at all: {}", r.status());
    let (_, j) = app.get_json(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!(j["status"], "queued");
    // a viewer is offered no cancel and no admin page, and may not cancel with a valid form
    let viewer_token = app.token("viewer").await;
    let viewer = sign_in(&app, &viewer_token).await;
    let (_, page) = get_page(&app, &viewer, "/jobs").await;
    assert!(!page.contains("/cancel\""), "no cancel button for a viewer");
    assert!(!page.contains("href=\"/admin\""));
    let (status, _) = get_page(&app, &viewer, "/admin").await;
    assert_eq!(status, 403);
    let r = cancel(viewer.clone(), csrf_in(&page)).await;
    assert_eq!(r.status().as_u16(), 403);
    assert_ne!(csrf_in(&page), csrf, "each session has its own token");
    // the admin's own form cancels
    let r = cancel(admin.clone(), csrf).await;
    assert_eq!((r.status().as_u16(), header(&r, "location")), (303, "/jobs".to_string()));
    let (_, j) = app.get_json(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!(j["status"], "cancelled");
    // signing out clears the cookie
    let r = browser()
        .post(app.url("/logout"))
        .header("cookie", &viewer)
        .form(&[("csrf", csrf_in(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "location")), (303, "/login".to_string()));
    let set = header(&r, "set-cookie");
    assert!(set.starts_with("genfab_session=;") && set.contains("Max-Age=0"), "{set}");
    app.stop().await;
}

async fn study_and_run_pages_plot_convergence_and_the_pareto_front(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let vars: Vec<Value> =
        ["cement", "blast_furnace_slag", "fly_ash", "water", "superplasticizer", "coarse_aggregate", "fine_aggregate"]
            .iter()
            .map(|n| json!({"name": n, "kind": "continuous"}))
            .chain([json!({"name": "age_days", "kind": "integer", "lo": 28, "hi": 28})])
            .collect();
    let spec = json!({"variables": vars,
        "surrogates": [{"name": "strength", "target": "compressive_strength_mpa", "model": {"kind": "linear", "degree": 2}}],
        "objectives": [{"name": "cement_kg", "expr": "cement"}, {"name": "strength_mpa", "expr": "strength", "goal": "maximize"}],
        "constraints": [{"expr": "strength >= 20"}]});
    let r = app.post_json("/api/v1/studies", &json!({"name": "mix <trade-off>", "dataset_id": ds, "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = app
        .post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "nsga2", "budget": 300, "seed": 2}))
        .await;
    let rid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    app.wait_until(&format!("/api/v1/runs/{rid}"), 120, |r| r["status"] == "succeeded").await;
    let (status, page) = get_page(&app, &cookie, "/studies").await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("href=\"/studies/{sid}\"")) && page.contains("mix &lt;trade-off&gt;"));
    let (status, page) = get_page(&app, &cookie, &format!("/studies/{sid}")).await;
    assert_eq!(status, 200);
    for text in ["Convergence per run", &format!("href=\"/runs/{rid}\""), "nsga2", "strength_mpa"] {
        assert!(page.contains(text), "the study page lacks {text}");
    }
    let (status, page) = get_page(&app, &cookie, &format!("/runs/{rid}")).await;
    assert_eq!(status, 200);
    for text in ["Objectives and the Pareto front", "Pareto front", "cement_kg", "hypervolume", "page 1", "next →"] {
        assert!(page.contains(text), "the run page lacks {text}");
    }
    assert_self_contained(&page);
    assert_eq!(page.matches("<tr>").count(), 51, "a header and 50 candidates per page");
    // filters and pages
    let (_, front) = get_page(&app, &cookie, &format!("/runs/{rid}?pareto=true")).await;
    let (_, all) = app.get_json(&format!("/api/v1/runs/{rid}/candidates?pareto=true&limit=1000")).await;
    let n_front = all["items"].as_array().unwrap().len();
    assert_eq!(front.matches("<tr>").count(), 1 + n_front.min(50), "Pareto filter");
    let (_, second) = get_page(&app, &cookie, &format!("/runs/{rid}?page=1")).await;
    assert!(second.contains("← previous") && second.contains("page 2"));
    let (status, _) = get_page(&app, &cookie, "/runs/99999").await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn the_upload_form_makes_a_dataset_or_names_the_row_and_column_at_fault(backend: Backend) {
    let app = spawn_app(backend).await;
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let (_, page) = get_page(&app, &cookie, "/datasets").await;
    assert!(page.contains("enctype=\"multipart/form-data\"") && page.contains("<label for=\"file\""));
    let csrf = csrf_in(&page);
    let send = |name: &str, file: &str, body: Vec<u8>, token: &str| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", token.to_string())
            .text("name", name.to_string())
            .part("file", reqwest::multipart::Part::bytes(body).file_name(file.to_string()));
        browser().post(app.url("/datasets")).header("cookie", cookie.clone()).multipart(form).send()
    };
    let steel = data_file("steel-plates-faults/steel_plates_faults.csv");
    let r = send("steel", "steel.csv", steel.clone(), &csrf).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = header(&r, "location");
    assert!(location.starts_with("/datasets/"), "{location}");
    let (status, page) = get_page(&app, &cookie, &location).await;
    assert_eq!(status, 200);
    assert!(page.contains("1941 rows"));
    // refusals: the form again with the reason and the place, nothing stored
    for (name, file, body, needles) in [
        ("bad", "bad.csv", b"a,b\n1,2\n3,inf\n".to_vec(), vec!["row 2", "column 'b'"]),
        ("steel", "steel.csv", steel.clone(), vec!["exists already"]),
        ("bad/name", "x.csv", b"a\n1\n".to_vec(), vec!["name:"]),
        ("notes", "notes.docx", b"a\n1\n".to_vec(), vec!["not a table file"]),
        ("empty", "empty.csv", vec![], vec!["choose a file"]),
    ] {
        let r = send(name, file, body, &csrf).await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{name}");
        let page = r.text().await.unwrap();
        for n in needles {
            assert!(page.contains(n), "{name}: the refusal lacks {n}");
        }
    }
    let r = send("forged", "f.csv", b"a\n1\n".to_vec(), &"0".repeat(32)).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (_, list) = app.get_json("/api/v1/datasets").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "only the good upload is stored");
    // a viewer is not offered the form
    let viewer = sign_in(&app, &app.token("viewer").await).await;
    let (_, page) = get_page(&app, &viewer, "/datasets").await;
    assert!(!page.contains("multipart/form-data"));
    app.stop().await;
}

on_both_stores!(
    sign_in_sets_a_strict_http_only_cookie_and_pages_need_it,
    pages_show_datasets_models_detectors_and_jobs,
    forms_need_the_session_csrf_token_and_roles_limit_what_is_offered,
    study_and_run_pages_plot_convergence_and_the_pareto_front,
    the_upload_form_makes_a_dataset_or_names_the_row_and_column_at_fault
);
