//! Design studies over HTTP: a study on the concrete data with a surrogate, solver runs as jobs
//! whose candidates are stored, sorted, filtered, paged and exported; a multi-objective run's
//! Pareto set; ask/tell with a "test rig" in the test; cancel; bad studies refused with the field.

use crate::helpers::{assert_problem, spawn_app, spawn_worker_app, Backend, TestApp};
use crate::on_both_stores;
use serde_json::{json, Value};

/// Least cement that reaches 50 MPa by a quadratic surrogate of the concrete data (UCI, Yeh 1998).
fn concrete_spec() -> Value {
    json!({
        "variables": [
            {"name": "cement", "kind": "continuous"},
            {"name": "blast_furnace_slag", "kind": "continuous"},
            {"name": "fly_ash", "kind": "continuous"},
            {"name": "water", "kind": "continuous"},
            {"name": "superplasticizer", "kind": "continuous"},
            {"name": "coarse_aggregate", "kind": "continuous"},
            {"name": "fine_aggregate", "kind": "continuous"},
            {"name": "age_days", "kind": "integer", "lo": 28, "hi": 28}
        ],
        "surrogates": [{"name": "strength", "target": "compressive_strength_mpa", "model": {"kind": "linear", "degree": 2}}],
        "objectives": [{"name": "cement_kg", "expr": "cement", "goal": "minimize"}],
        "constraints": [{"name": "reaches 50 MPa", "expr": "strength >= 50"}]
    })
}

async fn wait_run(app: &TestApp, run: i64) -> Value {
    app.wait_until(&format!("/api/v1/runs/{run}"), 180, |r| {
        !matches!(r["status"].as_str(), Some("queued") | Some("running"))
    })
    .await
}

/// Every candidate of a listing, following the cursor.
async fn all_pages(app: &TestApp, path: &str) -> Vec<Value> {
    let mut out = vec![];
    let mut url = path.to_string();
    loop {
        let (s, page) = app.get_json(&url).await;
        assert_eq!(s, 200, "{page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{path}&cursor={c}"),
            None => return out,
        }
    }
}

async fn study_runs_store_every_candidate(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let r = app
        .post_json("/api/v1/studies", &json!({"name": "low cement", "dataset_id": ds, "spec": concrete_spec()}))
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let study: Value = r.json().await.unwrap();
    let sid = study["id"].as_i64().unwrap();
    // bounds come from the data, the surrogate's cross-validated fit is shown
    let cement = &study["spec"]["variables"][0];
    assert_eq!(cement["lo"], 102.0, "{study}");
    assert_eq!(cement["hi"], 540.0);
    let cv = &study["surrogates"][0]["cv"];
    assert!(cv["r2"].as_f64().unwrap() > 0.7, "quadratic fit of strength: {cv}");
    assert!(cv["rmse"].as_f64().unwrap() < 10.0, "{cv}");

    let r = app
        .post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "random", "budget": 250, "seed": 3}))
        .await;
    assert_eq!(r.status().as_u16(), 202);
    let run: Value = r.json().await.unwrap();
    let rid = run["id"].as_i64().unwrap();
    let done = wait_run(&app, rid).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["evaluations"], 250);
    let summary = &done["summary"];
    assert_eq!(summary["evaluations"], 250);
    let conv = summary["convergence"].as_array().unwrap();
    assert_eq!(conv.last().unwrap()[0], 250);

    // all 250 stored, in pages of 100
    let all = all_pages(&app, &format!("/api/v1/runs/{rid}/candidates?limit=100")).await;
    assert_eq!(all.len(), 250);
    let iterations: Vec<i64> = all.iter().map(|c| c["iteration"].as_i64().unwrap()).collect();
    assert_eq!(iterations, (0..250).collect::<Vec<_>>());
    for c in &all {
        let cement = c["design"]["cement"].as_f64().unwrap();
        assert!((102.0..=540.0).contains(&cement));
        assert_eq!(c["design"]["age_days"], 28.0);
        let strength = c["predictions"]["strength"]["mean"].as_f64().unwrap();
        assert_eq!(c["feasible"], strength >= 50.0, "{c}");
        assert_eq!(c["objectives"]["cement_kg"], c["design"]["cement"]);
    }
    // the best is the feasible candidate with least cement, and the sorted listing agrees
    let feasible: Vec<&Value> = all.iter().filter(|c| c["feasible"] == true).collect();
    assert!(!feasible.is_empty(), "some random mixes reach 50 MPa");
    let least = feasible.iter().map(|c| c["design"]["cement"].as_f64().unwrap()).fold(f64::INFINITY, f64::min);
    assert_eq!(summary["best"]["design"]["cement"].as_f64().unwrap(), least);
    let (_, sorted) =
        app.get_json(&format!("/api/v1/runs/{rid}/candidates?feasible=true&sort=cement_kg&limit=5")).await;
    assert_eq!(sorted["items"][0]["design"]["cement"].as_f64().unwrap(), least);
    assert_eq!(sorted["items"].as_array().unwrap().len(), 5);
    let (_, by_score) = app.get_json(&format!("/api/v1/runs/{rid}/candidates?feasible=true&sort=score&limit=1")).await;
    assert_eq!(by_score["items"][0]["id"], sorted["items"][0]["id"]);
    // novelty: distance to the nearest mix in the data, in standard deviations
    assert!(all.iter().all(|c| c["novelty"].as_f64().unwrap() > 0.0));

    // export: one CSV row per candidate, design columns then objectives and constraints
    let (s, csv) = app.get_text(&format!("/api/v1/runs/{rid}/candidates?format=csv")).await;
    assert_eq!(s, 200);
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    for col in ["candidate_id", "cement", "age_days", "cement_kg", "reaches 50 MPa", "feasible", "novelty"] {
        assert!(header.split(',').any(|h| h.trim_matches('"') == col), "{col} in {header}");
    }
    assert_eq!(lines.count(), 250);
    let r = app
        .client
        .get(app.url(&format!("/api/v1/runs/{rid}/candidates?format=parquet")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"PAR1");

    // the study lists its run
    let (_, s) = app.get_json(&format!("/api/v1/studies/{sid}")).await;
    assert_eq!(s["runs"][0]["id"], rid);
    assert_eq!(s["runs"][0]["status"], "succeeded");
    app.stop().await;
}

async fn multi_objective_run_marks_the_pareto_set(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let mut spec = concrete_spec();
    spec["objectives"] = json!([
        {"name": "cement_kg", "expr": "cement"},
        {"name": "strength_mpa", "expr": "strength", "goal": "maximize"}
    ]);
    spec["constraints"] = json!([]);
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let r = app.post_json("/api/v1/studies", &json!({"name": "trade-off", "dataset_id": ds, "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    // a single-objective solver is refused for two objectives
    let r =
        app.post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "nelder_mead", "budget": 50})).await;
    let p = assert_problem(r, 400, &["nsga2"]).await;
    assert_eq!(p["field"], "solver");
    let r = app
        .post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "nsga2", "budget": 400, "seed": 1}))
        .await;
    let rid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = wait_run(&app, rid).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["summary"]["hypervolume"]["value"].as_f64().unwrap() > 0.0, "{done}");
    let all = all_pages(&app, &format!("/api/v1/runs/{rid}/candidates?limit=1000")).await;
    assert_eq!(all.len(), 400);
    let point =
        |c: &Value| (c["objectives"]["cement_kg"].as_f64().unwrap(), c["objectives"]["strength_mpa"].as_f64().unwrap());
    let front: Vec<(f64, f64)> = all.iter().filter(|c| c["pareto"] == true).map(point).collect();
    assert_eq!(front.len() as i64, done["summary"]["pareto_size"].as_i64().unwrap());
    assert!(front.len() >= 5, "a front, not a point: {}", front.len());
    // no candidate dominates a front member (less cement and more strength)
    for (c, s) in &front {
        for other in all.iter().map(point) {
            let dominates = other.0 <= *c && other.1 >= *s && (other.0 < *c || other.1 > *s);
            assert!(!dominates, "({c}, {s}) is dominated by {other:?}");
        }
    }
    let (_, p) = app.get_json(&format!("/api/v1/runs/{rid}/candidates?pareto=true&sort=strength_mpa&limit=1000")).await;
    let strengths: Vec<f64> = p["items"].as_array().unwrap().iter().map(|c| point(c).1).collect();
    assert!(strengths.windows(2).all(|w| w[0] >= w[1]), "maximised objective sorts best first: {strengths:?}");
    app.stop().await;
}

fn branin(x1: f64, x2: f64) -> f64 {
    // Surjanovic & Bingham's definition; minimum 0.397887
    let pi = std::f64::consts::PI;
    let (b, c, t) = (5.1 / (4.0 * pi * pi), 5.0 / pi, 1.0 / (8.0 * pi));
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

async fn ask_and_tell_with_a_test_rig(backend: Backend) {
    let app = spawn_app(backend).await;
    let spec = json!({
        "variables": [{"name": "x1", "kind": "continuous", "lo": -5, "hi": 10}, {"name": "x2", "kind": "continuous", "lo": 0, "hi": 15}],
        "objectives": [{"name": "loss"}]
    });
    let r = app.post_json("/api/v1/studies", &json!({"name": "rig", "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    // a measured objective cannot be run by a solver
    let r = app.post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "random", "budget": 5})).await;
    assert_problem(r, 400, &["measured outside", "ask"]).await;

    let mes = app.token("mes").await;
    let ask = format!("/api/v1/studies/{sid}/ask");
    let tell = format!("/api/v1/studies/{sid}/tell");
    let mut seen = std::collections::HashSet::new();
    let mut best = f64::INFINITY;
    let mut first_id = 0;
    for round in 0..14 {
        let n = if round == 0 { 6 } else { 2 };
        let r = app.post_json_as(&ask, &json!({"n": n}), &mes).await;
        let status = r.status().as_u16();
        let asked: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{asked}");
        let items = asked["items"].as_array().unwrap();
        assert_eq!(items.len(), n);
        let mut results = vec![];
        for c in items {
            assert_eq!(c["status"], "asked");
            let (x1, x2) = (c["design"]["x1"].as_f64().unwrap(), c["design"]["x2"].as_f64().unwrap());
            assert!((-5.0..=10.0).contains(&x1) && (0.0..=15.0).contains(&x2));
            assert!(seen.insert(format!("{x1:.9},{x2:.9}")), "asked twice: {x1}, {x2}");
            let y = branin(x1, x2);
            best = best.min(y);
            results.push(json!({"candidate_id": c["id"], "objectives": {"loss": y}}));
            if first_id == 0 {
                first_id = c["id"].as_i64().unwrap();
            }
        }
        if round == 0 {
            assert!(items.iter().all(|c| c["solver"] == "latin_hypercube"));
        }
        if round == 13 {
            assert!(items.iter().all(|c| c["solver"] == "bayesian"), "{asked}");
        }
        let r = app.post_json_as(&tell, &json!({"results": results}), &mes).await;
        assert_eq!(r.status().as_u16(), 200);
        // a retried tell is acknowledged, nothing changes
        let r = app.post_json_as(&tell, &json!({"results": results}), &mes).await;
        let again: Value = r.json().await.unwrap();
        assert!(again["items"].as_array().unwrap().iter().all(|i| i["outcome"] == "already_recorded"), "{again}");
    }
    // 32 measurements, 26 of them proposed by the Gaussian process: near Branin's minimum
    assert!(best < 1.0, "best measured {best}");

    // other values for a measured candidate: refused, first values kept, and nothing else in the request written
    let (_, before) = app.get_json(&format!("/api/v1/studies/{sid}/candidates?status=measured&limit=1")).await;
    let first = &before["items"][0];
    let r = app.post_json_as(&ask, &json!({"n": 1}), &mes).await;
    let pending = r.json::<Value>().await.unwrap()["items"][0]["id"].as_i64().unwrap();
    let body = json!({"results": [
        {"candidate_id": pending, "objectives": {"loss": 5.0}},
        {"candidate_id": first["id"], "objectives": {"loss": 123.0}}
    ]});
    assert_problem(app.post_json_as(&tell, &body, &mes).await, 409, &["measured before", "nothing was recorded"]).await;
    let (_, after) = app.get_json(&format!("/api/v1/studies/{sid}/candidates?status=measured&limit=1")).await;
    assert_eq!(after["items"][0]["objectives"], first["objectives"]);
    let (_, asked) = app.get_json(&format!("/api/v1/studies/{sid}/candidates?status=asked")).await;
    assert_eq!(asked["items"].as_array().unwrap().len(), 1, "the pending candidate was not recorded");
    // unknown candidate, unknown objective, missing value: 400 naming the field
    let bad = [
        (json!({"results": [{"candidate_id": 999999, "objectives": {"loss": 1.0}}]}), "results[0].candidate_id"),
        (
            json!({"results": [{"candidate_id": pending, "objectives": {"loss": 1.0, "mass": 2}}]}),
            "results[0].objectives.mass",
        ),
        (json!({"results": [{"candidate_id": pending, "objectives": {}}]}), "results[0].objectives.loss"),
        (json!({"results": [{"candidate_id": pending, "objectives": {"loss": "high"}}]}), "results[0].objectives.loss"),
        (json!({"results": []}), "results"),
    ];
    for (b, field) in bad {
        let p = assert_problem(app.post_json_as(&tell, &b, &mes).await, 400, &[]).await;
        assert_eq!(p["field"], field, "{b}: {p}");
    }
    let p = assert_problem(app.post_json_as(&ask, &json!({"n": 0}), &mes).await, 400, &[]).await;
    assert_eq!(p["field"], "n");
    // a viewer may read but not ask
    let viewer = app.token("viewer").await;
    assert_eq!(app.post_json_as(&ask, &json!({"n": 1}), &viewer).await.status().as_u16(), 403);
    app.stop().await;
}

async fn a_cancelled_run_keeps_what_it_evaluated(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let r = app.post_json("/api/v1/studies", &json!({"name": "long", "dataset_id": ds, "spec": concrete_spec()})).await;
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r =
        app.post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "random", "budget": 1000000})).await;
    let run: Value = r.json().await.unwrap();
    let rid = run["id"].as_i64().unwrap();
    app.wait_until(&format!("/api/v1/runs/{rid}"), 60, |r| r["evaluations"].as_i64().unwrap_or(0) > 0).await;
    let r = app.post_json(&format!("/api/v1/jobs/{}/cancel", run["job_id"]), &json!({})).await;
    assert_eq!(r.status().as_u16(), 202);
    let done = wait_run(&app, rid).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    let n = done["evaluations"].as_i64().unwrap();
    assert!(n > 0 && n < 1_000_000, "{n}");
    let (_, page) = app.get_json(&format!("/api/v1/runs/{rid}/candidates?sort=iteration&limit=1000")).await;
    assert!(!page["items"].as_array().unwrap().is_empty());
    app.stop().await;
}

async fn bad_studies_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ds = app.dataset("concrete", "concrete/Concrete_Data.csv").await;
    let with = |path: &str, v: Value| {
        let mut s = concrete_spec();
        let mut cur = &mut s;
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            cur = match p.parse::<usize>() {
                Ok(i) => &mut cur[i],
                Err(_) => &mut cur[*p],
            };
        }
        let last = parts[parts.len() - 1];
        match last.parse::<usize>() {
            Ok(i) => cur[i] = v,
            Err(_) => cur[last] = v,
        }
        s
    };
    let cases = [
        (with("objectives/0/expr", json!("cement * (water + ")), "spec.objectives[0].expr", "expected"),
        (with("objectives/0/expr", json!("cement * density")), "spec.objectives[0].expr", "density"),
        (with("constraints/0/expr", json!("strength + 50")), "spec.constraints[0].expr", "'<=', '>=' or '=='"),
        (
            with("variables/0", json!({"name": "cement", "kind": "continuous", "lo": 600, "hi": 100})),
            "spec.variables[0].lo",
            "[600, 100]",
        ),
        (with("variables/1", json!({"name": "rebar", "kind": "continuous"})), "spec.variables[1].lo", "rebar"),
        (with("variables/1", json!({"name": "cement", "kind": "continuous"})), "spec.variables[1].name", "twice"),
        (
            with("variables/7", json!({"name": "age_days", "kind": "integer", "lo": 1.5, "hi": 28})),
            "spec.variables[7].lo",
            "whole",
        ),
        (with("surrogates/0/target", json!("hardness")), "spec.surrogates[0].target", "hardness"),
        (with("objectives", json!([])), "spec.objectives", "at least one"),
        (with("variables/0/kind", json!("fuzzy")), "spec", "fuzzy"),
    ];
    for (spec, field, needle) in cases {
        let r = app.post_json("/api/v1/studies", &json!({"name": "bad", "dataset_id": ds, "spec": spec})).await;
        let p = assert_problem(r, 400, &[needle]).await;
        assert_eq!(p["field"], field, "{p}");
    }
    let r = app.post_json("/api/v1/studies", &json!({"name": "bad", "dataset_id": 999, "spec": concrete_spec()})).await;
    assert_eq!(assert_problem(r, 400, &["999"]).await["field"], "dataset_id");
    let r = app.post_json("/api/v1/studies", &json!({"name": "bad", "spec": concrete_spec()})).await;
    assert_problem(r, 400, &["dataset"]).await;
    let (_, list) = app.get_json("/api/v1/studies").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing stored: {list}");

    let r = app.post_json("/api/v1/studies", &json!({"name": "ok", "dataset_id": ds, "spec": concrete_spec()})).await;
    assert_eq!(r.status().as_u16(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = app.post_json("/api/v1/studies", &json!({"name": "ok", "dataset_id": ds, "spec": concrete_spec()})).await;
    assert_problem(r, 409, &["exists already"]).await;
    let runs = format!("/api/v1/studies/{sid}/runs");
    for (body, field) in [
        (json!({"solver": "gradient_magic", "budget": 10}), "solver"),
        (json!({"solver": "random", "budget": 0}), "budget"),
        (json!({"solver": "random", "budget": 10, "seeds": 1}), ""),
    ] {
        let p = assert_problem(app.post_json(&runs, &body).await, 400, &[]).await;
        if !field.is_empty() {
            assert_eq!(p["field"], field, "{p}");
        }
    }
    for (q, field) in
        [("sort=weight", "sort"), ("feasible=maybe", "feasible"), ("cursor=zzz", "cursor"), ("format=xlsx", "format")]
    {
        let p = assert_problem(
            app.client
                .get(app.url(&format!("/api/v1/studies/{sid}/candidates?{q}")))
                .bearer_auth(&app.admin)
                .send()
                .await
                .unwrap(),
            400,
            &[],
        )
        .await;
        assert_eq!(p["field"], field, "{q}: {p}");
    }
    let (_, s) = app.get_json(&format!("/api/v1/studies/{sid}")).await;
    assert_eq!(s["runs"].as_array().unwrap().len(), 0);
    assert_eq!(app.get_json("/api/v1/studies/77777").await.0, 404);
    app.stop().await;
}

/// A study in a VAE's latent space: candidates are decoded to the dataset's columns, the
/// latent box and the near-the-data limit hold, and the objective is over decoded columns.
async fn latent_study_decodes_candidates(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("energy", "energy-efficiency/ENB2012_data.csv").await;
    let spec =
        json!({"epochs": 15, "hidden": [32], "latent": 3, "batch_size": 64, "patience": null, "threads": 1, "seed": 1});
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await;
    let model = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let m = app
        .wait_until(&format!("/api/v1/models/{model}"), 120, |m| m["status"] != "queued" && m["status"] != "training")
        .await;
    assert_eq!(m["status"], "ready", "{m}");
    // variables are not allowed beside a latent space
    let bad = json!({"latent": {"model_id": model}, "variables": [{"name": "X1", "kind": "continuous", "lo": 0, "hi": 1}],
                     "objectives": [{"name": "heating", "expr": "Y1"}]});
    let p =
        assert_problem(app.post_json("/api/v1/studies", &json!({"name": "l", "spec": bad})).await, 400, &["latent"])
            .await;
    assert_eq!(p["field"], "spec.variables");
    let p = assert_problem(
        app.post_json(
            "/api/v1/studies",
            &json!({"name": "l", "spec": {"latent": {"model_id": 4242}, "objectives": [{"name": "h", "expr": "Y1"}]}}),
        )
        .await,
        400,
        &["4242"],
    )
    .await;
    assert_eq!(p["field"], "spec.latent.model_id");

    let spec = json!({
        "latent": {"model_id": model, "k": 2.5},
        "objectives": [{"name": "heating", "expr": "Y1"}],
        "constraints": [{"name": "cooling", "expr": "Y2 <= 30"}],
        "near_data": {"max_latent_norm": 2.0}
    });
    let r = app.post_json("/api/v1/studies", &json!({"name": "latent", "dataset_id": ds, "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = app
        .post_json(
            &format!("/api/v1/studies/{sid}/runs"),
            &json!({"solver": "latin_hypercube", "budget": 200, "seed": 4}),
        )
        .await;
    let rid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = wait_run(&app, rid).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let all = all_pages(&app, &format!("/api/v1/runs/{rid}/candidates?limit=1000")).await;
    assert_eq!(all.len(), 200);
    let mut feasible = 0;
    for c in &all {
        let z: Vec<f64> = c["latent"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(z.len(), 3);
        assert!(z.iter().all(|v| v.abs() <= 2.5));
        let keys: Vec<&String> = c["design"].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 10, "every column of the data decoded: {keys:?}");
        let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
        let y2 = c["design"]["Y2"].as_f64().unwrap();
        assert_eq!(c["feasible"] == true, norm <= 2.0 && y2 <= 30.0, "{c}");
        assert_eq!(c["objectives"]["heating"], c["design"]["Y1"]);
        feasible += (c["feasible"] == true) as usize;
    }
    assert!(feasible > 0);
    let best = &done["summary"]["best"];
    assert_eq!(best["feasible"], true);
    assert_eq!(done["summary"]["model_id"], model);

    // Closed loop: a schedule retrains the VAE on rows weighted towards low heating load
    // (Tripp et al. 2020); the study's next run decodes with the retrained model.
    let r = app
        .post_json(
            "/api/v1/schedules",
            &json!({"name": "weighted retrain", "cron": "0 3 * * *", "timezone": "UTC", "template": {"steps": [
                {"kind": "retrain", "model_id": model, "rank_weight": {"column": "Y1", "maximize": false, "k": 0.001}}]}}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let schedule = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let bad = app
        .post_json(
            "/api/v1/schedules",
            &json!({"name": "bad", "cron": "0 3 * * *", "timezone": "UTC", "template": {"steps": [
                {"kind": "retrain", "model_id": model, "rank_weight": {"column": "Y1", "k": -1}}]}}),
        )
        .await;
    assert_eq!(assert_problem(bad, 400, &["k"]).await["field"], "template.steps[0].rank_weight");
    assert!(app.post_json(&format!("/api/v1/schedules/{schedule}/run"), &json!({})).await.status().is_success());
    let retrained = app
        .wait_until(&format!("/api/v1/models?dataset_id={ds}"), 120, |l| {
            l["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|m| m["parent_model_id"] == model && m["status"] == "ready"))
        })
        .await;
    let new = retrained["items"].as_array().unwrap().iter().find(|m| m["parent_model_id"] == model).unwrap().clone();
    assert_eq!(new["spec"]["rank_weight"]["column"], "Y1", "{new}");
    let mean_y1 = |rows: &Value| {
        let a = rows.as_array().unwrap();
        a.iter().map(|r| r["Y1"].as_f64().unwrap()).sum::<f64>() / a.len() as f64
    };
    let before: Value = app
        .post_json(&format!("/api/v1/models/{model}/samples"), &json!({"n": 2000, "seed": 1}))
        .await
        .json()
        .await
        .unwrap();
    let after: Value = app
        .post_json(&format!("/api/v1/models/{}/samples", new["id"]), &json!({"n": 2000, "seed": 1}))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        mean_y1(&after) < mean_y1(&before) - 2.0,
        "weighted towards low Y1: {} vs {}",
        mean_y1(&after),
        mean_y1(&before)
    );
    let r = app
        .post_json(&format!("/api/v1/studies/{sid}/runs"), &json!({"solver": "random", "budget": 20, "seed": 5}))
        .await;
    let rid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = wait_run(&app, rid).await;
    assert_eq!(done["summary"]["model_id"], new["id"], "{done}");
    app.stop().await;
}

on_both_stores!(
    latent_study_decodes_candidates,
    study_runs_store_every_candidate,
    multi_objective_run_marks_the_pareto_set,
    ask_and_tell_with_a_test_rig,
    a_cancelled_run_keeps_what_it_evaluated,
    bad_studies_are_refused_and_store_nothing
);
