//! Training as a resource: POST /models queues a job, the in-process worker trains, the model,
//! its metrics, file and samples are served; bad requests are refused and store nothing.

use crate::helpers::{assert_problem, spawn_app, spawn_worker_app, Backend};
use crate::on_both_stores;
use serde_json::json;

fn small_spec(epochs: usize) -> serde_json::Value {
    json!({"epochs": epochs, "hidden": [16], "latent": 3, "batch_size": 64, "patience": null, "threads": 1})
}

async fn model_is_trained_by_a_job_and_served(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("energy", "energy-efficiency/ENB2012_data.csv").await;
    let r =
        app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": small_spec(6), "checkpoint_every": 2})).await;
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let created: serde_json::Value = r.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/models/{id}"));
    assert_eq!(created["job"]["kind"], "train");
    assert_eq!(created["dataset"]["version"], 1);
    assert_eq!(created["spec"]["latent"], 3);
    // defaults filled in and recorded
    assert_eq!(created["spec"]["learning_rate"], 0.001);

    let m = app.wait_until(&location, 120, |m| m["status"] != "queued" && m["status"] != "training").await;
    assert_eq!(m["status"], "ready", "{m}");
    assert_eq!(m["epochs_run"], 6);
    assert!(m["best_epoch"].as_i64().unwrap() >= 1);
    assert_eq!(m["code_version"], format!("genfab {}", env!("CARGO_PKG_VERSION")));
    let (_, d) = app.get_json(&format!("/api/v1/datasets/{ds}")).await;
    assert_eq!(m["dataset"]["sha256"], d["version"]["sha256"]);

    let (_, metrics) = app.get_json(&format!("{location}/metrics")).await;
    let epochs: Vec<i64> = metrics["epochs"].as_array().unwrap().iter().map(|e| e["epoch"].as_i64().unwrap()).collect();
    assert_eq!(epochs, vec![1, 2, 3, 4, 5, 6]);
    assert!(metrics["epochs"][0]["train_loss"].as_f64().unwrap().is_finite());

    let (_, job) = app.get_json(&format!("/api/v1/jobs/{}", m["job_id"])).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["progress"], 1.0);
    assert_eq!(job["result"]["model_id"], id);
    assert_eq!(job["attempts"], 1);

    // the file is the documented format, readable by the engine, with the dataset's digest inside
    let r = app.client.get(app.url(&format!("{location}/file"))).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let sha = r.headers()["x-content-sha256"].to_str().unwrap().to_string();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(genfab::catalog::sha256_hex(&bytes), sha);
    assert_eq!(m["file_sha256"], sha);
    let fitted = genfab::ml::FittedVae::from_bytes(&bytes).expect("model file parses");
    assert_eq!(fitted.dataset_sha256(), d["version"]["sha256"].as_str());

    // small samples come straight back, as JSON or CSV, the same for the same seed
    let r = app.post_json(&format!("{location}/samples"), &json!({"n": 25, "seed": 7})).await;
    assert_eq!(r.status().as_u16(), 200);
    let rows: serde_json::Value = r.json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 25);
    assert!(rows[0].get("X1").is_some(), "{}", rows[0]);
    let again: serde_json::Value =
        app.post_json(&format!("{location}/samples"), &json!({"n": 25, "seed": 7})).await.json().await.unwrap();
    assert_eq!(rows, again);
    let r = app
        .client
        .post(app.url(&format!("{location}/samples")))
        .bearer_auth(&app.admin)
        .header("accept", "text/csv")
        .json(&json!({"n": 5}))
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 6, "{csv}");
    assert!(csv.starts_with("X1,"));

    // many rows become a dataset through a job, with its lineage
    let r = app
        .post_json(&format!("{location}/samples"), &json!({"n": 12000, "seed": 1, "dataset_name": "energy-synthetic"}))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let job: serde_json::Value = r.json().await.unwrap();
    let job = app.wait_job(job["id"].as_i64().unwrap(), 120).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let synth = job["result"]["dataset_id"].as_i64().unwrap();
    let (_, sd) = app.get_json(&format!("/api/v1/datasets/{synth}")).await;
    assert_eq!(sd["name"], "energy-synthetic");
    assert_eq!(sd["row_count"], 12000);
    let lineage = &sd["version"]["lineage"];
    assert_eq!(lineage["model_id"], id);
    assert_eq!(lineage["job_id"], job["id"]);
    assert_eq!(lineage["model_dataset_id"], ds);
    assert_eq!(lineage["model_dataset_sha256"], d["version"]["sha256"]);
    assert_eq!(lineage["seed"], 1);

    // a dataset with models is kept
    let r = app.client.delete(app.url(&format!("/api/v1/datasets/{ds}"))).bearer_auth(&app.admin).send().await.unwrap();
    assert_problem(r, 409, &["models"]).await;
    app.stop().await;
}

async fn bad_model_requests_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ds = app.dataset("energy", "energy-efficiency/ENB2012_data.csv").await;
    let cases = [
        (json!({"dataset_id": 999, "spec": small_spec(2)}), "dataset_id", "999"),
        (json!({"dataset_id": ds, "version": 5}), "version", "no version 5"),
        (json!({"dataset_id": ds, "spec": {"latnet": 3}}), "spec.latnet", "no field 'latnet'"),
        (json!({"dataset_id": ds, "spec": {"latent": 0}}), "spec", "latent"),
        (json!({"dataset_id": ds, "spec": {"epochs": "many"}}), "spec", "spec"),
        (json!({"dataset_id": ds, "spec": {"conditions": ["nope"]}}), "spec.conditions", "nope"),
        (json!({"dataset_id": ds, "spec": [1, 2]}), "spec", "object"),
        (json!({"dataset_id": ds, "checkpoint_every": 0}), "checkpoint_every", "at least 1"),
    ];
    for (body, field, needle) in cases {
        let r = app.post_json("/api/v1/models", &body).await;
        let p = assert_problem(r, 400, &[needle]).await;
        assert_eq!(p["field"], field, "{body}");
    }
    let r = app
        .client
        .post(app.url("/api/v1/models"))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{\"dataset_id\": ")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, &["line 1"]).await;
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "colour": "red"})).await;
    assert_problem(r, 400, &["colour"]).await;
    let viewer = app.token("viewer").await;
    let r = app.post_json_as("/api/v1/models", &json!({"dataset_id": ds}), &viewer).await;
    assert_problem(r, 403, &["viewer"]).await;
    // nothing was stored
    let (_, models) = app.get_json("/api/v1/models").await;
    assert_eq!(models["items"].as_array().unwrap().len(), 0);
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 0);
    let (s, _) = app.get_json("/api/v1/models/abc").await;
    assert_eq!(s, 404);
    let (s, _) = app.get_json("/api/v1/models/77").await;
    assert_eq!(s, 404);

    // a queued model (no worker here) has no file and cannot sample yet
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": small_spec(2)})).await;
    assert_eq!(r.status().as_u16(), 202);
    let m: serde_json::Value = r.json().await.unwrap();
    let r = app
        .client
        .get(app.url(&format!("/api/v1/models/{}/file", m["id"])))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_problem(r, 409, &["queued"]).await;
    let r = app.post_json(&format!("/api/v1/models/{}/samples", m["id"]), &json!({"n": 3})).await;
    assert_problem(r, 409, &["queued"]).await;
    let (_, one) = app.get_json("/api/v1/models").await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

async fn conditional_samples_and_bad_sample_requests(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let mut spec = small_spec(2);
    spec["conditions"] = json!(["Type"]);
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 202);
    let m: serde_json::Value = r.json().await.unwrap();
    let path = format!("/api/v1/models/{}", m["id"]);
    let m = app.wait_until(&path, 180, |m| m["status"] == "ready" || m["status"] == "failed").await;
    assert_eq!(m["status"], "ready", "{m}");
    let r = app.post_json(&format!("{path}/samples"), &json!({"n": 40, "conditions": {"Type": "H"}, "seed": 3})).await;
    assert_eq!(r.status().as_u16(), 200);
    let rows: serde_json::Value = r.json().await.unwrap();
    assert!(rows.as_array().unwrap().iter().all(|r| r["Type"] == "H"), "{rows}");
    let bad = [
        (json!({"n": 0}), Some("n")),
        (json!({"n": 5, "conditions": {"Torque [Nm]": "3"}}), Some("conditions.Torque [Nm]")),
        (json!({"n": 5, "temperature": -1}), Some("temperature")),
        (json!({"n": 5, "sed": 1}), None),
    ];
    for (body, field) in bad {
        let r = app.post_json(&format!("{path}/samples"), &body).await;
        let p = assert_problem(r, 400, &[]).await;
        if let Some(f) = field {
            assert_eq!(p["field"], f, "{body}: {p}");
        }
    }
    let r = app.post_json(&format!("{path}/samples"), &json!({"n": 5, "conditions": {"Type": "X"}})).await;
    assert_problem(r, 422, &["X"]).await;
    let mes = app.token("mes").await;
    let r = app.post_json_as(&format!("{path}/samples"), &json!({"n": 20000}), &mes).await;
    assert_problem(r, 403, &["mes"]).await;
    app.stop().await;
}

async fn exploration_modes_answer_directly(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let mut spec = small_spec(3);
    spec["conditions"] = json!(["Type"]);
    let m: serde_json::Value =
        app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await.json().await.unwrap();
    let path = format!("/api/v1/models/{}", m["id"]);
    let m = app.wait_until(&path, 180, |m| m["status"] == "ready" || m["status"] == "failed").await;
    assert_eq!(m["status"], "ready", "{m}");
    let samples = format!("{path}/samples");

    // ranges: every row inside, with the acceptance rate in the headers
    let r = app
        .post_json(
            &samples,
            &json!({"n": 30, "seed": 1, "ranges": {"Torque [Nm]": [35, 45], "Tool wear [min]": [0, 150]}}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let rate: f64 = r.headers()["x-acceptance-rate"].to_str().unwrap().parse().unwrap();
    let drawn: usize = r.headers()["x-draws"].to_str().unwrap().parse().unwrap();
    assert!(rate > 0.0 && rate <= 1.0 && drawn >= 30, "{rate} {drawn}");
    let rows: serde_json::Value = r.json().await.unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 30);
    for row in rows {
        let t = row["Torque [Nm]"].as_f64().unwrap();
        let w = row["Tool wear [min]"].as_f64().unwrap();
        assert!((35.0..=45.0).contains(&t) && (0.0..=150.0).contains(&w), "{row}");
    }

    // near a real row: spread 0 reproduces one decoded row; a spread varies it
    let (_, csv) = app.get_text(&format!("/api/v1/datasets/{ds}/rows?format=json")).await;
    let real: serde_json::Value = serde_json::from_str(&csv).unwrap();
    let row = real[17].clone();
    let same: serde_json::Value = app
        .post_json(&samples, &json!({"n": 4, "temperature": 0, "near": {"row": row, "spread": 0}}))
        .await
        .json()
        .await
        .unwrap();
    assert!(same.as_array().unwrap().windows(2).all(|w| w[0] == w[1]), "{same}");
    assert_eq!(same[0]["Type"], row["Type"], "the row's condition is kept");
    let varied: serde_json::Value = app
        .post_json(&samples, &json!({"n": 4, "seed": 2, "near": {"row": row, "spread": 1.0}}))
        .await
        .json()
        .await
        .unwrap();
    assert!(varied.as_array().unwrap().windows(2).any(|w| w[0] != w[1]));

    // interpolation: n rows from one to the other; traversal: n rows along a latent dimension
    let path_rows: serde_json::Value = app
        .post_json(&samples, &json!({"n": 5, "interpolate": {"from": real[3], "to": real[4000]}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(path_rows.as_array().unwrap().len(), 5);
    let trav: serde_json::Value = app
        .post_json(&samples, &json!({"n": 7, "conditions": {"Type": "L"}, "traverse": {"dim": 1, "from": -2, "to": 2}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trav.as_array().unwrap().len(), 7);
    assert!(trav.as_array().unwrap().iter().all(|r| r["Type"] == "L"));

    // bad requests name the field
    let mut bad_row = row.clone();
    bad_row["Type"] = json!("XL");
    let mut no_col = row.clone();
    no_col.as_object_mut().unwrap().remove("Torque [Nm]");
    let bad = [
        (json!({"n": 5, "ranges": {"Type": [0, 1]}}), "ranges.Type"),
        (json!({"n": 5, "ranges": {"Torque [Nm]": [50, 40]}}), "ranges.Torque [Nm]"),
        (json!({"n": 5, "near": {"row": bad_row}}), "near.row.Type"),
        (json!({"n": 5, "near": {"row": no_col}}), "near.row.Torque [Nm]"),
        (json!({"n": 5, "near": {"row": row, "spread": -1}}), "near.spread"),
        (json!({"n": 5, "traverse": {"dim": 99}}), "traverse.dim"),
        (json!({"n": 20000, "traverse": {"dim": 0}}), "n"),
        (json!({"n": 5, "traverse": {"dim": 0}, "dataset_name": "x"}), "dataset_name"),
    ];
    for (body, field) in bad {
        let r = app.post_json(&samples, &body).await;
        let p = assert_problem(r, 400, &[]).await;
        assert_eq!(p["field"], field, "{body}: {p}");
    }
    let r = app.post_json(&samples, &json!({"n": 5, "ranges": {"Torque [Nm]": [1, 2]}, "traverse": {"dim": 0}})).await;
    assert_problem(r, 400, &["at most one"]).await;
    app.stop().await;
}

on_both_stores!(
    exploration_modes_answer_directly,
    model_is_trained_by_a_job_and_served,
    bad_model_requests_are_refused_and_store_nothing,
    conditional_samples_and_bad_sample_requests
);
