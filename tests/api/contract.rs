//! The API contract over real HTTP: the OpenAPI document the server publishes matches the routes
//! it answers, and `Idempotency-Key` makes retried POSTs safe (first answer replayed, nothing
//! changed; another request under the same key refused; concurrent retries never duplicate).

use crate::helpers::*;
use crate::on_both_stores;
use serde_json::{json, Value};

fn study(name: &str) -> Value {
    json!({
        "name": name,
        "spec": {
            "variables": [{"name": "x", "kind": "continuous", "lo": 0.0, "hi": 1.0}],
            "objectives": [{"name": "f", "expr": "(x - 0.3)^2", "goal": "minimize"}]
        }
    })
}

async fn post_keyed(app: &TestApp, path: &str, body: &Value, key: &str, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn study_count(app: &TestApp) -> usize {
    let (s, v) = app.get_json("/api/v1/studies?limit=500").await;
    assert_eq!(s, 200);
    v["items"].as_array().unwrap().len()
}

async fn the_published_document_matches_the_routes_served(backend: Backend) {
    let app = spawn_app(backend).await;
    // public, like the probes
    let r = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path.replace("{id}", "987654").replace("{version}", "3");
        for (method, op) in item.as_object().unwrap() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.client.request(m, app.url(&concrete)).send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            if op.get("security").is_some() {
                // the server routes it (not the catch-all 404, not 405) and wants a token
                assert_eq!(status, 401, "{method} {path}: {text}");
            } else {
                assert!(status == 200 || status == 503, "{method} {path}: {status} {text}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "{checked} operations");
    // and a path that is not in the document is the catch-all
    let r = app.client.get(app.url("/api/v1/nothing-here")).bearer_auth(&app.admin).send().await.unwrap();
    assert_problem(r, 404, &["no such endpoint"]).await;
}

async fn a_retried_post_answers_the_first_response_and_creates_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = post_keyed(&app, "/api/v1/studies", &study("keyed"), "plant-7-study-1", &app.admin).await;
    assert_eq!(first.status().as_u16(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].to_str().unwrap().to_string();
    let first: Value = first.json().await.unwrap();
    for _ in 0..3 {
        let again = post_keyed(&app, "/api/v1/studies", &study("keyed"), "plant-7-study-1", &app.admin).await;
        assert_eq!(again.status().as_u16(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"].to_str().unwrap(), location);
        assert!(again.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let again: Value = again.json().await.unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(study_count(&app).await, 1);
    // the same key with another body: refused, nothing stored
    let r = post_keyed(&app, "/api/v1/studies", &study("other"), "plant-7-study-1", &app.admin).await;
    assert_problem(r, 422, &["Idempotency-Key", "different request"]).await;
    assert_eq!(study_count(&app).await, 1);
    // keys belong to a token: another client's identical key is its own request
    let other = app.token("engineer").await;
    let r = post_keyed(&app, "/api/v1/studies", &study("theirs"), "plant-7-study-1", &other).await;
    assert_eq!(r.status().as_u16(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_eq!(study_count(&app).await, 2);
    // a refusal is an answer too: the retry gets the same 409, not a second attempt
    let dup = post_keyed(&app, "/api/v1/studies", &study("keyed"), "dup-1", &app.admin).await;
    let status = dup.status().as_u16();
    let again = post_keyed(&app, "/api/v1/studies", &study("keyed"), "dup-1", &app.admin).await;
    assert_eq!(again.status().as_u16(), status);
    assert_eq!(study_count(&app).await, 2);
    // malformed keys, named
    for bad in ["", &"k".repeat(256), "two words"] {
        let r = post_keyed(&app, "/api/v1/studies", &study("bad key"), bad, &app.admin).await;
        let p = assert_problem(r, 400, &["Idempotency-Key"]).await;
        assert_eq!(p["field"], "Idempotency-Key");
    }
    // a key without a token is still refused as unauthenticated
    let r =
        app.client.post(app.url("/api/v1/studies")).header("Idempotency-Key", "x").json(&study("anon")).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 401);
    assert_eq!(study_count(&app).await, 2);
}

async fn concurrent_retries_with_one_key_create_one_thing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut tasks = vec![];
    for _ in 0..8 {
        let (client, url, admin) = (app.client.clone(), app.url("/api/v1/studies"), app.admin.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(admin)
                .header("Idempotency-Key", "night-batch-study")
                .json(&study("nightly"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").is_some();
            let v: Value = r.json().await.unwrap();
            (status, retry_after, v)
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, retry_after, v) = t.await.unwrap();
        match status {
            201 => {
                ids.insert(v["id"].as_i64().unwrap());
            }
            409 => assert!(retry_after, "a 409 in flight says when to retry: {v}"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 is the same study");
    assert_eq!(study_count(&app).await, 1);
    // tokens are not kept for replay (the answer holds the secret): a key there is refused
    let r = post_keyed(&app, "/api/v1/tokens", &json!({"name": "mes", "role": "mes"}), "t-1", &app.admin).await;
    assert_problem(r, 400, &["Idempotency-Key", "secret"]).await;
    // nor are webhook subscriptions, for the same reason; nothing is subscribed
    let hook = json!({"name": "mes", "url": "http://127.0.0.1:9/hook", "events": ["job.failed"]});
    let r = post_keyed(&app, "/api/v1/webhooks", &hook, "w-1", &app.admin).await;
    assert_problem(r, 400, &["Idempotency-Key", "webhook subscription", "secret"]).await;
    let (_, hooks) = app.get_json("/api/v1/webhooks").await;
    assert_eq!(hooks["items"], json!([]), "{hooks}");
}

on_both_stores!(
    the_published_document_matches_the_routes_served,
    a_retried_post_answers_the_first_response_and_creates_nothing,
    concurrent_retries_with_one_key_create_one_thing,
);
