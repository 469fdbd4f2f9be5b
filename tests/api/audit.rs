//! The audit log: creates, exports, deletes and sign-ins are recorded with the token that made
//! them (never a secret); only an admin reads it, filtered by token and action, page by page.

use crate::helpers::{assert_problem, spawn_app, Backend, TestApp};
use crate::on_both_stores;
use serde_json::{json, Value};

/// A token of `role` with its id.
async fn token_with_id(app: &TestApp, role: &str) -> (String, i64) {
    let r = app.post_json("/api/v1/tokens", &json!({"name": format!("{role} audit"), "role": role})).await;
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.unwrap();
    (v["token"].as_str().unwrap().to_string(), v["info"]["id"].as_i64().unwrap())
}

/// The audit entries matching `query`, once at least `n` are there (the log is written by a
/// writer task, a moment after the answer).
async fn entries(app: &TestApp, query: &str, n: usize) -> Vec<Value> {
    let v = app
        .wait_until(&format!("/api/v1/audit{query}"), 10, |v| v["items"].as_array().is_some_and(|i| i.len() >= n))
        .await;
    v["items"].as_array().unwrap().clone()
}

async fn the_audit_log_names_who_did_what(b: Backend) {
    let app = spawn_app(b).await;
    let (engineer, engineer_id) = token_with_id(&app, "engineer").await;
    let (viewer, _) = token_with_id(&app, "viewer").await;

    let r = app.upload_with("audited", "", "text/csv", "a,b\n1,2\n3,4\n", &engineer).await;
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r =
        app.client.get(app.url(&format!("/api/v1/datasets/{id}/rows"))).bearer_auth(&engineer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // an ordinary read is not audited
    let r = app.client.get(app.url(&format!("/api/v1/datasets/{id}"))).bearer_auth(&engineer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app.client.delete(app.url(&format!("/api/v1/datasets/{id}"))).bearer_auth(&engineer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    // a refused delete is recorded with its status
    let r = app.client.delete(app.url(&format!("/api/v1/datasets/{id}"))).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);

    let mine = entries(&app, &format!("?token_id={engineer_id}"), 3).await;
    let got: Vec<(&str, &str, &str, &str, i64)> = mine
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["method"].as_str().unwrap(),
                e["resource_kind"].as_str().unwrap_or(""),
                e["resource_id"].as_str().unwrap_or(""),
                e["status"].as_i64().unwrap(),
            )
        })
        .collect();
    let ids = id.to_string();
    let expected = vec![
        ("delete", "DELETE", "datasets", ids.as_str(), 204),
        ("export", "GET", "datasets", ids.as_str(), 200),
        ("create", "POST", "datasets", ids.as_str(), 201),
    ];
    assert_eq!(got, expected, "newest first: {mine:?}");
    for e in &mine {
        assert_eq!(e["token_id"], engineer_id);
        assert_eq!(e["token_name"], "engineer audit");
        assert_eq!(e["role"], "engineer");
        assert!(e["at"].is_string() && e["request_id"].is_string(), "{e}");
    }
    assert_eq!(mine[2]["path"], "/api/v1/datasets", "the path without its query string");

    // only an admin reads it
    for t in [&engineer, &viewer] {
        let r = app.client.get(app.url("/api/v1/audit")).bearer_auth(t).send().await.unwrap();
        assert_problem(r, 403, &[]).await;
    }

    // filters: by action, and by token and action together
    let deletes = entries(&app, "?action=delete", 2).await;
    assert!(deletes.iter().all(|e| e["action"] == "delete"));
    assert_eq!(deletes[0]["status"], 403, "the viewer's refused delete, newest first");
    let created = entries(&app, "?action=create&token_id=1", 2).await;
    assert!(created.iter().all(|e| e["resource_kind"] == "tokens" && e["token_id"] == 1), "{created:?}");
    assert_eq!(created[0]["resource_id"], "3");
    let r = app.client.get(app.url("/api/v1/audit?action=read")).bearer_auth(&app.admin).send().await.unwrap();
    assert_problem(r, 400, &["read"]).await;

    // pages, newest first, and no secret anywhere in the log
    let (_, page1) = app.get_json("/api/v1/audit?limit=2").await;
    let cursor = page1["next_cursor"].as_str().expect("more than two entries").to_string();
    let (_, page2) = app.get_json(&format!("/api/v1/audit?limit=2&cursor={cursor}")).await;
    let a = page1["items"][1]["id"].as_i64().unwrap();
    let b2 = page2["items"][0]["id"].as_i64().unwrap();
    assert!(b2 < a);
    let (_, all) = app.get_json("/api/v1/audit?limit=500").await;
    let text = all.to_string();
    for secret in [&engineer, &viewer, &app.admin] {
        assert!(!text.contains(secret.as_str()), "a token is in the audit log");
    }
}

async fn dashboard_sign_ins_and_forms_are_audited(b: Backend) {
    let app = spawn_app(b).await;
    let (engineer, engineer_id) = token_with_id(&app, "engineer").await;
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = browser.post(app.url("/login")).form(&[("token", engineer.as_str()), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let r = browser.post(app.url("/login")).form(&[("token", "gf_wrong"), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let sign_ins = entries(&app, "?action=sign-in", 2).await;
    assert_eq!(sign_ins[0]["status"], 401);
    assert_eq!(sign_ins[0]["token_id"], Value::Null, "a refused sign-in names no one");
    assert_eq!(sign_ins[1]["status"], 303);
    assert_eq!(sign_ins[1]["token_id"], engineer_id);
    assert_eq!(sign_ins[1]["path"], "/login");

    // the admin page shows the latest entries
    let r = browser.post(app.url("/login")).form(&[("token", app.admin.as_str()), ("next", "/")]).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    entries(&app, "?action=sign-in", 3).await;
    let r = browser.get(app.url("/admin")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Audit log"), "{html}");
    assert!(html.contains("engineer audit (2)") && html.contains("sign-in"), "{html}");
    assert!(!html.contains(&engineer) && !html.contains("gf_wrong"));
}

on_both_stores!(the_audit_log_names_who_did_what, dashboard_sign_ins_and_forms_are_audited);
