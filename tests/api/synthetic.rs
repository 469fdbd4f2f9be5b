//! Synthetic defect data through the API: per-class counts from a conditional model trained by a
//! chained job, the stored report, the privacy gate on export, and refused requests.

use crate::helpers::{assert_problem, spawn_app, spawn_worker_app, Backend};
use crate::on_both_stores;
use serde_json::json;

fn quick_spec() -> serde_json::Value {
    json!({"epochs": 4, "hidden": [32], "latent": 4, "batch_size": 128, "patience": null, "threads": 1})
}

fn count_of(csv: &str, column: &str, value: &str) -> usize {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| h.trim_matches('"') == column).unwrap();
    lines.filter(|l| l.split(',').nth(i).map(|v| v.trim_matches('"')) == Some(value)).count()
}

async fn synthetic_rows_per_class_with_a_report(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let body = json!({"dataset_id": ds, "label": "Type", "counts": {"H": 300, "M": 100}, "seed": 3, "spec": quick_spec(),
                      "name": "ai4i-synthetic"});
    let r = app.post_json("/api/v1/synthetic", &body).await;
    assert_eq!(r.status().as_u16(), 202);
    let queued: serde_json::Value = r.json().await.unwrap();
    assert_eq!(queued["job"]["kind"], "synthesize");
    assert_eq!(queued["job"]["depends_on"], queued["train_job_id"]);
    let job = app.wait_job(queued["job"]["id"].as_i64().unwrap(), 300).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let id = job["result"]["dataset_id"].as_i64().unwrap();
    let (_, d) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(d["name"], "ai4i-synthetic");
    assert_eq!(d["row_count"], 400);
    assert_eq!(d["version"]["source"], "synthetic");
    let l = &d["version"]["lineage"];
    assert_eq!(l["kind"], "synthetic");
    assert_eq!(l["source_dataset_id"], ds);
    assert_eq!(l["model_id"], queued["model_id"]);
    assert_eq!(l["counts"], json!({"H": 300, "M": 100}));
    assert_eq!(l["seed"], 3);
    // the class counts are what was asked for, and schema levels hold
    let (s, csv) = app.get_text(&format!("/api/v1/datasets/{id}/rows?format=csv")).await;
    assert_eq!(s, 200);
    assert_eq!(count_of(&csv, "Type", "H"), 300);
    assert_eq!(count_of(&csv, "Type", "M"), 100);
    assert_eq!(count_of(&csv, "Type", "L"), 0);
    let (s, rep) = app.get_json(&format!("/api/v1/datasets/{id}/report?version=1")).await;
    assert_eq!(s, 200, "{rep}");
    let q = rep["report"]["quality"].as_f64().unwrap();
    assert!(q > 0.3 && q <= 1.0, "quality {q}");
    assert!(rep["report"]["detection"].as_f64().unwrap() >= 0.0);
    assert!(["passed", "failed"].contains(&rep["privacy_check"].as_str().unwrap()));
    assert_eq!(rep["report"]["plan"], json!({"H": 300, "M": 100}));
    let u = &rep["report"]["usefulness"];
    assert_eq!(u["label"], "Type", "{rep}");
    for setting in ["train_real", "train_synthetic", "train_real_plus_synthetic"] {
        let f1 = u[setting]["macro_f1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{setting}: {f1}");
    }
    assert_eq!(u["test_rows"], rep["report"]["privacy"]["holdout_rows"]);
    let (s, _) = app.get_json(&format!("/api/v1/datasets/{ds}/report")).await;
    assert_eq!(s, 404, "real datasets have no report");
    app.stop().await;
}

async fn a_failed_privacy_check_gates_export(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    // a gate no model passes: not one synthetic row may come closer than 95 % of the holdout
    let body = json!({"dataset_id": ds, "label": "Type", "balance": {"total": 300}, "spec": quick_spec(),
                      "privacy": {"max_exact_copies": 0, "max_close_share": 0.0}});
    let queued: serde_json::Value = app.post_json("/api/v1/synthetic", &body).await.json().await.unwrap();
    let job = app.wait_job(queued["job"]["id"].as_i64().unwrap(), 300).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["result"]["privacy_check"], "failed");
    let id = job["result"]["dataset_id"].as_i64().unwrap();
    let r =
        app.client.get(app.url(&format!("/api/v1/datasets/{id}/rows"))).bearer_auth(&app.admin).send().await.unwrap();
    assert_problem(r, 403, &["privacy check", "override_privacy"]).await;
    let engineer = app.token("engineer").await;
    let r = app
        .client
        .get(app.url(&format!("/api/v1/datasets/{id}/rows?override_privacy=need+it")))
        .bearer_auth(&engineer)
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, &["only an admin"]).await;
    let (s, csv) = app.get_text(&format!("/api/v1/datasets/{id}/rows?override_privacy=audit+ticket+42")).await;
    assert_eq!(s, 200);
    assert_eq!(csv.lines().count(), 301);
    let (_, rep) = app.get_json(&format!("/api/v1/datasets/{id}/report")).await;
    assert_eq!(rep["privacy_check"], "failed");
    assert_eq!(rep["export_overrides"][0]["reason"], "audit ticket 42");
    assert_eq!(rep["export_overrides"].as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn bad_synthetic_requests_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let cases = [
        (json!({"dataset_id": ds, "label": "Colour", "counts": {"H": 1}}), "label", "no column 'Colour'"),
        (json!({"dataset_id": ds, "label": "Torque [Nm]", "counts": {"H": 1}}), "label", "categorical or boolean"),
        (json!({"dataset_id": ds, "label": "Type", "counts": {"X": 5}}), "counts.X", "not a level"),
        (json!({"dataset_id": ds, "label": "Type", "counts": {"H": 0}}), "counts", "add up"),
        (
            json!({"dataset_id": ds, "label": "Type", "counts": {"H": 1}, "balance": "to_majority"}),
            "balance",
            "not both",
        ),
        (json!({"dataset_id": ds, "label": "Type", "balance": "evenly"}), "balance", "to_majority"),
        (json!({"dataset_id": ds, "label": "Type", "balance": {"total": 0}}), "balance.total", "positive"),
        (json!({"dataset_id": ds, "label": "Type"}), "counts", "balance"),
        (json!({"dataset_id": 999, "label": "Type", "counts": {"H": 1}}), "dataset_id", "999"),
        (
            json!({"dataset_id": ds, "label": "Type", "counts": {"H": 1}, "spec": {"conditions": []}}),
            "spec.conditions",
            "label",
        ),
        (
            json!({"dataset_id": ds, "label": "Type", "counts": {"H": 1}, "privacy": {"max_close_share": 2.0}}),
            "privacy",
            "max_close_share",
        ),
        (json!({"dataset_id": ds, "label": "Type", "counts": {"H": 1}, "model_id": 77}), "model_id", "77"),
    ];
    for (body, field, needle) in cases {
        let r = app.post_json("/api/v1/synthetic", &body).await;
        let p = assert_problem(r, 400, &[needle]).await;
        assert_eq!(p["field"], field, "{body}");
    }
    let r = app
        .post_json("/api/v1/synthetic", &json!({"dataset_id": ds, "label": "Type", "counts": {"H": 1}, "colour": 1}))
        .await;
    assert_problem(r, 400, &["colour"]).await;
    // a model not conditioned on the label cannot generate per class
    let m: serde_json::Value =
        app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": quick_spec()})).await.json().await.unwrap();
    let r = app
        .post_json(
            "/api/v1/synthetic",
            &json!({"dataset_id": ds, "label": "Type", "counts": {"H": 1}, "model_id": m["id"]}),
        )
        .await;
    let p = assert_problem(r, 400, &["not conditioned on 'Type'"]).await;
    assert_eq!(p["field"], "model_id");
    let mes = app.token("mes").await;
    let r = app
        .post_json_as("/api/v1/synthetic", &json!({"dataset_id": ds, "label": "Type", "counts": {"H": 1}}), &mes)
        .await;
    assert_eq!(r.status().as_u16(), 403);
    // only the model above was queued
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1);
    let (_, datasets) = app.get_json("/api/v1/datasets").await;
    assert_eq!(datasets["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

on_both_stores!(
    synthetic_rows_per_class_with_a_report,
    a_failed_privacy_check_gates_export,
    bad_synthetic_requests_are_refused
);
