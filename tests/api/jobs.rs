//! The queue and the jobs API on both stores: listing with filters and cursors, cancel (queued
//! and running), server-sent events, retries with backoff, a panicking handler.

use crate::helpers::{assert_problem, fast_worker, spawn_app, spawn_worker_app, Backend};
use crate::on_both_stores;
use futures_util::StreamExt;
use genfab::jobs::{try_execute_job, Step};
use genfab::store::NewJob;
use serde_json::json;

async fn jobs_are_listed_filtered_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.store().await;
    let mut ids = vec![];
    for i in 0..7 {
        ids.push(store.enqueue(&NewJob::new("noop", json!({ "i": i }))).await.unwrap());
    }
    let cfg = fast_worker();
    assert_eq!(try_execute_job(&store, "w1", &cfg).await.unwrap(), Step::Ran(ids[0]));
    let (_, page) = app.get_json("/api/v1/jobs?limit=3").await;
    let got: Vec<i64> = page["items"].as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(got, vec![ids[6], ids[5], ids[4]], "newest first");
    let next = page["next_cursor"].as_str().unwrap();
    let (_, page2) = app.get_json(&format!("/api/v1/jobs?limit=3&cursor={next}")).await;
    let got2: Vec<i64> = page2["items"].as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(got2, vec![ids[3], ids[2], ids[1]]);
    let (_, done) = app.get_json("/api/v1/jobs?status=succeeded&kind=noop").await;
    assert_eq!(done["items"].as_array().unwrap().len(), 1);
    assert_eq!(done["items"][0]["id"], ids[0]);
    assert_eq!(done["items"][0]["attempts"], 1);
    assert!(done["items"][0]["finished_at"].is_string());
    let (_, queued) = app.get_json("/api/v1/jobs?status=queued").await;
    assert_eq!(queued["items"].as_array().unwrap().len(), 6);
    for (q, field) in [("status=done", "status"), ("kind=paint", "kind"), ("limit=0", "limit"), ("cursor=zz", "cursor")]
    {
        let r = app.client.get(app.url(&format!("/api/v1/jobs?{q}"))).bearer_auth(&app.admin).send().await.unwrap();
        let p = assert_problem(r, 400, &[]).await;
        assert_eq!(p["field"], field);
    }
    let (s, _) = app.get_json("/api/v1/jobs/999999").await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn cancel_stops_queued_and_running_jobs(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.store().await;
    // queued: never starts
    let queued = store.enqueue(&NewJob::new("noop", json!({}))).await.unwrap();
    let r = app.post_json(&format!("/api/v1/jobs/{queued}/cancel"), &json!({})).await;
    assert_eq!(r.status().as_u16(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    assert_eq!(j["status"], "cancelled");
    assert_eq!(try_execute_job(&store, "w", &fast_worker()).await.unwrap(), Step::EmptyQueue);
    let r = app.post_json(&format!("/api/v1/jobs/{queued}/cancel"), &json!({})).await;
    assert_problem(r, 409, &["cancelled"]).await;
    let viewer = app.token("viewer").await;
    let r = app.post_json_as(&format!("/api/v1/jobs/{queued}/cancel"), &json!({}), &viewer).await;
    assert_eq!(r.status().as_u16(), 403);
    app.stop().await;

    // running training: stops at the next epoch, keeps its metrics, no file
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let spec = json!({"epochs": 400, "hidden": [32], "latent": 4, "batch_size": 32, "patience": null, "threads": 1});
    let m: serde_json::Value =
        app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await.json().await.unwrap();
    let path = format!("/api/v1/models/{}", m["id"]);
    app.wait_until(&format!("{path}/metrics"), 120, |v| v["epochs"].as_array().is_some_and(|e| e.len() >= 2)).await;
    let r = app.post_json(&format!("/api/v1/jobs/{}/cancel", m["job_id"]), &json!({})).await;
    assert_eq!(r.status().as_u16(), 202);
    let job = app.wait_job(m["job_id"].as_i64().unwrap(), 60).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    let (_, model) = app.get_json(&path).await;
    assert_eq!(model["status"], "cancelled");
    let (_, metrics) = app.get_json(&format!("{path}/metrics")).await;
    let n = metrics["epochs"].as_array().unwrap().len();
    assert!((2..400).contains(&n), "{n} epochs kept");
    assert_eq!(job["result"]["epochs_run"].as_u64().unwrap() as usize, n);
    let r = app.client.get(app.url(&format!("{path}/file"))).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    app.stop().await;
}

async fn events_stream_progress_and_the_end(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let store = app.store().await;
    let id = store.enqueue(&NewJob::new("noop", json!({"sleep_ms": 600}))).await.unwrap();
    let r = app.client.get(app.url(&format!("/api/v1/jobs/{id}/events"))).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = String::new();
    let mut stream = r.bytes_stream();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(chunk) = stream.next().await {
            body.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not end with the job: {body}");
    let events: Vec<serde_json::Value> = body
        .split("\n\n")
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(body.starts_with("event: state"), "{body}");
    assert_eq!(events.last().unwrap()["status"], "succeeded", "{body}");
    assert!(events.iter().any(|e| e["status"] == "running"), "{body}");
    let (s, _) = app.get_json("/api/v1/jobs/0/events").await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn failures_retry_with_backoff_and_panics_end_failed(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.store().await;
    let cfg = fast_worker();
    let failing = store
        .enqueue(&NewJob { max_attempts: 3, ..NewJob::new("noop", json!({"fail": "sensor offline"})) })
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut runs = 0;
    while runs < 3 {
        if let Step::Ran(_) = try_execute_job(&store, "w", &cfg).await.unwrap() {
            runs += 1;
            let j = store.get_job(failing).await.unwrap().unwrap();
            if runs < 3 {
                assert_eq!(j.status, "queued", "retried after attempt {runs}");
                assert!(
                    j.run_at > chrono::Utc::now() - chrono::Duration::milliseconds(5),
                    "backoff pushes run_at ahead"
                );
            }
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(started.elapsed().as_secs() < 20);
    }
    // backoff doubled: 50 ms then 100 ms
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    let j = store.get_job(failing).await.unwrap().unwrap();
    assert_eq!(j.status, "failed");
    assert_eq!(j.attempts, 3);
    assert_eq!(j.last_error.as_deref(), Some("sensor offline"));

    let boom = store.enqueue(&NewJob::new("noop", json!({"panic": "gearbox exploded"}))).await.unwrap();
    let after = store.enqueue(&NewJob::new("noop", json!({}))).await.unwrap();
    assert_eq!(try_execute_job(&store, "w", &cfg).await.unwrap(), Step::Ran(boom));
    let (_, j) = app.get_json(&format!("/api/v1/jobs/{boom}")).await;
    assert_eq!(j["status"], "failed");
    assert_eq!(j["attempts"], 1, "a panic is not retried");
    assert!(j["last_error"].as_str().unwrap().contains("panicked: gearbox exploded"), "{j}");
    // the worker lives on
    assert_eq!(try_execute_job(&store, "w", &cfg).await.unwrap(), Step::Ran(after));
    assert_eq!(store.get_job(after).await.unwrap().unwrap().status, "succeeded");
    let unknown = store.enqueue(&NewJob::new("paint", json!({}))).await.unwrap();
    try_execute_job(&store, "w", &cfg).await.unwrap();
    let j = store.get_job(unknown).await.unwrap().unwrap();
    assert_eq!(j.status, "failed");
    assert!(j.last_error.unwrap().contains("no handler for jobs of kind 'paint'"));
    app.stop().await;
}

async fn an_expired_lease_is_taken_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.store().await;
    let id = store.enqueue(&NewJob::new("noop", json!({}))).await.unwrap();
    // worker A claims with a tiny lease and "dies" (never heartbeats)
    let a = store.claim_job("dead-worker", chrono::Duration::milliseconds(50), None).await.unwrap().unwrap();
    assert_eq!(a.id, id);
    assert!(store.claim_job("other", chrono::Duration::seconds(5), None).await.unwrap().is_none(), "leased");
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(try_execute_job(&store, "worker-b", &fast_worker()).await.unwrap(), Step::Ran(id));
    let j = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(j.status, "succeeded");
    assert_eq!(j.attempts, 2);
    // the dead worker's late outcome is dropped
    let late = store
        .finish_job(
            &a,
            &genfab::store::JobOutcome::Failed { error: "late".into(), retry: false },
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(!late);
    assert_eq!(store.get_job(id).await.unwrap().unwrap().status, "succeeded");
    app.stop().await;
}

on_both_stores!(
    jobs_are_listed_filtered_and_paged,
    cancel_stops_queued_and_running_jobs,
    events_stream_progress_and_the_end,
    failures_retry_with_backoff_and_panics_end_failed,
    an_expired_lease_is_taken_over
);
