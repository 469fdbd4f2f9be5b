//! Limits per request and per token: JSON depth and string length (refused with the path named,
//! nothing stored), requests per second per token (429 with Retry-After, other tokens
//! unaffected), and jobs queued or running per token (429 until one ends).

use crate::helpers::{assert_problem, data_file, spawn_with, test_settings, Backend, TestApp};
use crate::on_both_stores;
use serde_json::{json, Value};
use std::time::Duration;

/// A token of `role` with its id.
async fn token_with_id(app: &TestApp, role: &str) -> (String, i64) {
    let r = app.post_json("/api/v1/tokens", &json!({"name": format!("{role} limits"), "role": role})).await;
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().await.unwrap();
    (v["token"].as_str().unwrap().to_string(), v["info"]["id"].as_i64().unwrap())
}

async fn deep_json_and_long_strings_are_refused_with_their_path(b: Backend) {
    let (mut settings, dir) = test_settings(b).await;
    settings.limits.max_json_depth = 8;
    settings.limits.max_string_bytes = 100;
    let app = spawn_with(settings, dir).await;

    // a cell of a JSON table longer than the limit: the path names the row and the column
    let long = "x".repeat(101);
    let body = json!([{"a": 1, "b": "short"}, {"a": 2, "b": long}]).to_string();
    let r = app.upload("j", "application/json", body).await;
    let p = assert_problem(r, 400, &["'[1].b'", "100 bytes", "GENFAB_MAX_STRING_BYTES"]).await;
    assert_eq!(p["field"], "[1].b");
    // at the limit it is taken
    let body = json!([{"a": 1, "b": "y".repeat(100)}]).to_string();
    let r = app.upload("ok", "application/json", body).await;
    assert_eq!(r.status().as_u16(), 201);
    let (_, list) = app.get_json("/api/v1/datasets").await;
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, vec!["ok"], "the refused upload stored nothing");

    // a spec nested deeper than the limit, with or without a media type
    let ds = app.dataset("energy", "energy-efficiency/ENB2012_data.csv").await;
    let deep = json!({"dataset_id": ds, "spec": {"epochs": [[[[[[[1]]]]]]]}});
    let r = app.post_json("/api/v1/models", &deep).await;
    let p = assert_problem(r, 400, &["deeper than 8", "GENFAB_MAX_JSON_DEPTH"]).await;
    assert_eq!(p["field"], "spec.epochs[0][0][0][0][0][0]");
    let r =
        app.client.post(app.url("/api/v1/models")).bearer_auth(&app.admin).body(deep.to_string()).send().await.unwrap();
    assert_problem(r, 400, &["deeper than 8"]).await;
    // a long string in a spec, with an Idempotency-Key (that middleware reads the body too)
    let r = app
        .client
        .post(app.url("/api/v1/studies"))
        .bearer_auth(&app.admin)
        .header("idempotency-key", "limits-1")
        .json(&json!({"name": "s", "dataset_id": ds, "spec": {"objectives": [{"expr": "z".repeat(500)}]}}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 400, &["'spec.objectives[0].expr'"]).await;
    assert_eq!(p["field"], "spec.objectives[0].expr");
    for path in ["/api/v1/models", "/api/v1/studies", "/api/v1/jobs"] {
        let (_, v) = app.get_json(path).await;
        assert_eq!(v["items"], json!([]), "{path} holds nothing: {v}");
    }
    // a CSV cell has the same limit, named by row and column
    let csv = format!("a,b\n1,short\n2,{}\n", "w".repeat(101));
    let p = assert_problem(app.upload("csv", "text/csv", csv).await, 400, &["100 bytes"]).await;
    assert_eq!((p["row"].as_u64(), p["column"].as_str()), (Some(2), Some("b")));
    let (_, m) = app.get_text("/metrics").await;
    assert!(m.contains("genfab_limit_refusals_total{limit=\"json\"} 4"), "{m}");
}

async fn each_token_has_its_own_request_rate(b: Backend) {
    let (mut settings, dir) = test_settings(b).await;
    settings.limits.rate_per_second = 0.5;
    settings.limits.rate_burst = 3;
    let app = spawn_with(settings, dir).await;
    let (viewer, _) = token_with_id(&app, "viewer").await; // the admin's first request
    assert_eq!(app.get_json("/api/v1/datasets").await.0, 200);
    assert_eq!(app.get_json("/api/v1/datasets").await.0, 200);
    let r = app.client.get(app.url("/api/v1/datasets")).bearer_auth(&app.admin).send().await.unwrap();
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After is whole seconds, at least 1");
    let p = assert_problem(r, 429, &["requests per second", "GENFAB_RATE_PER_SECOND"]).await;
    assert_eq!(p["title"], "Too many requests");
    // a write is refused too, and stores nothing
    let r = app.upload("refused", "text/csv", "a\n1\n").await;
    assert_eq!(r.status().as_u16(), 429);

    // another token, and requests without one, are not held back by the admin's bucket
    let r = app.client.get(app.url("/api/v1/datasets")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app.client.get(app.url("/api/v1/datasets")).send().await.unwrap();
    assert_problem(r, 401, &["Bearer"]).await;

    tokio::time::sleep(Duration::from_millis(retry * 1000 + 100)).await;
    let (status, list) = app.get_json("/api/v1/datasets").await;
    assert_eq!(status, 200, "after Retry-After the token may ask again");
    assert_eq!(list["items"], json!([]));
    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("genfab_limit_refusals_total{limit=\"rate\"} 2"));
}

async fn a_token_may_have_so_many_jobs_queued(b: Backend) {
    let (mut settings, dir) = test_settings(b).await;
    settings.limits.max_jobs_per_token = 1;
    // no worker: queued jobs stay queued
    let app = spawn_with(settings, dir).await;
    let ds = app.dataset("energy", "energy-efficiency/ENB2012_data.csv").await;
    let model = json!({"dataset_id": ds, "spec": {"epochs": 1}});
    let r = app.post_json("/api/v1/models", &model).await;
    assert_eq!(r.status().as_u16(), 202);
    let job = r.json::<Value>().await.unwrap()["job"]["id"].as_i64().unwrap();

    let r = app.post_json("/api/v1/models", &model).await;
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let p = assert_problem(r, 429, &["1 jobs queued or running", "may have 1", "GENFAB_MAX_JOBS_PER_TOKEN"]).await;
    assert_eq!(p["title"], "Too many jobs");
    let (_, models) = app.get_json("/api/v1/models").await;
    assert_eq!(models["items"].as_array().unwrap().len(), 1, "the refused request queued nothing");
    // requests that queue nothing are not held back
    assert_eq!(app.upload("more", "text/csv", data_file("energy-efficiency/ENB2012_data.csv")).await.status(), 201);

    // another token's jobs are its own
    let (engineer, _) = token_with_id(&app, "engineer").await;
    let r = app.post_json_as("/api/v1/models", &model, &engineer).await;
    assert_eq!(r.status().as_u16(), 202);

    // a cancelled job frees its place
    let r = app.post_json(&format!("/api/v1/jobs/{job}/cancel"), &json!({})).await;
    assert_eq!(r.status().as_u16(), 200);
    let r = app.post_json("/api/v1/models", &model).await;
    assert_eq!(r.status().as_u16(), 202);
}

on_both_stores!(
    deep_json_and_long_strings_are_refused_with_their_path,
    each_token_has_its_own_request_rate,
    a_token_may_have_so_many_jobs_queued,
);
