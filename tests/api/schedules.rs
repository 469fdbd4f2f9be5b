//! Schedules: validation, pause/resume/delete, run now, each slot fired once, missed slots
//! within the grace window fired once at start, older ones skipped; a nightly retrain chain.

use crate::helpers::{assert_problem, spawn_app, spawn_worker_app, Backend};
use crate::on_both_stores;
use genfab::jobs::scheduler::{self, Cron};
use genfab::store::{NewSchedule, Store};
use serde_json::json;

async fn schedules_are_validated_and_managed(backend: Backend) {
    let app = spawn_app(backend).await;
    let noop = json!({"steps": [{"kind": "noop"}]});
    let bad = [
        (json!({"name": "n", "cron": "0 2 * *", "template": noop}), "cron", "4 fields"),
        (json!({"name": "n", "cron": "0 25 * * *", "template": noop}), "cron", "not valid"),
        (
            json!({"name": "n", "cron": "0 2 * * *", "timezone": "Mars/Olympus", "template": noop}),
            "timezone",
            "Mars/Olympus",
        ),
        (json!({"name": "n", "cron": "0 2 * * *", "template": {"steps": []}}), "template", "empty"),
        (json!({"name": "n", "cron": "0 2 * * *", "template": {"steps": [{"kind": "paint"}]}}), "template", "paint"),
        (
            json!({"name": "n", "cron": "0 2 * * *", "template": {"steps": [{"kind": "retrain", "model_id": 42}]}}),
            "template.steps[0].model_id",
            "42",
        ),
        (json!({"name": "", "cron": "0 2 * * *", "template": noop}), "name", "name"),
        (json!({"name": "n", "cron": "0 2 * * *", "template": noop, "grace_seconds": -1}), "grace_seconds", "grace"),
    ];
    for (body, field, needle) in bad {
        let r = app.post_json("/api/v1/schedules", &body).await;
        let p = assert_problem(r, 400, &[needle]).await;
        assert_eq!(p["field"], field, "{body}");
    }
    let (_, none) = app.get_json("/api/v1/schedules").await;
    assert!(none["items"].as_array().unwrap().is_empty(), "nothing stored by refused requests");

    let r = app
        .post_json(
            "/api/v1/schedules",
            &json!({"name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin", "template": noop}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let s: serde_json::Value = r.json().await.unwrap();
    let id = s["id"].as_i64().unwrap();
    // 02:30 in Berlin is 01:30 or 00:30 UTC
    let next: chrono::DateTime<chrono::Utc> = s["next_fire_at"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now());
    assert_eq!(next.format("%M").to_string(), "30");
    assert!(["00", "01"].contains(&next.format("%H").to_string().as_str()), "{next}");
    let r =
        app.post_json("/api/v1/schedules", &json!({"name": "nightly", "cron": "0 3 * * *", "template": noop})).await;
    assert_problem(r, 409, &["nightly"]).await;

    let r = app.post_json(&format!("/api/v1/schedules/{id}/pause"), &json!({})).await;
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["paused"], true);
    assert!(p["next_fire_at"].is_null());
    let r = app.post_json(&format!("/api/v1/schedules/{id}/resume"), &json!({})).await;
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["paused"], false);

    let r = app.post_json(&format!("/api/v1/schedules/{id}/run"), &json!({})).await;
    assert_eq!(r.status().as_u16(), 202);
    let fired: serde_json::Value = r.json().await.unwrap();
    assert_eq!(fired["jobs"][0]["kind"], "noop");
    assert_eq!(fired["jobs"][0]["schedule_id"], id);
    let (_, got) = app.get_json(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(got["recent_slots"].as_array().unwrap().len(), 1);
    assert_eq!(got["recent_slots"][0]["manual"], true);

    // a chain stops at a step that ends without success
    let body =
        json!({"name": "chain", "cron": "0 3 * * *", "template": {"steps": [{"kind": "noop"}, {"kind": "noop"}]}});
    let c: serde_json::Value = app.post_json("/api/v1/schedules", &body).await.json().await.unwrap();
    let r = app.post_json(&format!("/api/v1/schedules/{}/run", c["id"]), &json!({})).await;
    let chain: serde_json::Value = r.json().await.unwrap();
    let (a, b) = (chain["jobs"][0]["id"].as_i64().unwrap(), chain["jobs"][1]["id"].as_i64().unwrap());
    assert_eq!(chain["jobs"][1]["depends_on"], a);
    let store = app.store().await;
    // the second cannot be claimed before the first succeeded
    let claimed = store.claim_job("w", chrono::Duration::seconds(5), Some(&[b])).await.unwrap();
    assert!(claimed.is_none());
    let r = app.post_json(&format!("/api/v1/jobs/{a}/cancel"), &json!({})).await;
    assert_eq!(r.status().as_u16(), 200);
    let (_, second) = app.get_json(&format!("/api/v1/jobs/{b}")).await;
    assert_eq!(second["status"], "cancelled");
    assert!(second["last_error"].as_str().unwrap().contains("earlier job"), "{second}");

    let r =
        app.client.delete(app.url(&format!("/api/v1/schedules/{id}"))).bearer_auth(&app.admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (s, _) = app.get_json(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn schedule(store: &Store, name: &str, cron: &str, behind: chrono::Duration, grace: i64) -> i64 {
    let s = store
        .create_schedule(&NewSchedule {
            name: name.into(),
            cron: cron.into(),
            timezone: "UTC".into(),
            template: json!({"steps": [{"kind": "noop"}]}),
            grace_seconds: grace,
            next_fire_at: chrono::Utc::now() - behind,
        })
        .await
        .unwrap()
        .unwrap();
    s.id
}

async fn each_slot_fires_once_and_missed_slots_follow_the_grace_window(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.store().await;
    // due a few seconds ago: fired once, however many workers tick at the same moment
    let due = schedule(&store, "due", "*/5 * * * *", chrono::Duration::seconds(3), 3600).await;
    // a daily slot missed more than an hour ago while everything was down, grace one hour: skipped
    let now = chrono::Utc::now();
    let hour_ago = now - chrono::Duration::minutes(61);
    let stale_cron = format!("{} {} * * *", hour_ago.format("%M"), hour_ago.format("%H"));
    let stale = schedule(&store, "stale", &stale_cron, chrono::Duration::minutes(61), 3600).await;
    // the same, but 30 minutes ago: fired once
    let half = now - chrono::Duration::minutes(30);
    let late_cron = format!("{} {} * * *", half.format("%M"), half.format("%H"));
    let late = schedule(&store, "late", &late_cron, chrono::Duration::minutes(30), 3600).await;
    let mut ticks = vec![];
    for _ in 0..6 {
        let s = match backend {
            Backend::Postgres => Store::connect(&app.settings.database).await.unwrap(),
            Backend::Sqlite => store.clone(),
        };
        ticks.push(tokio::spawn(async move { scheduler::tick(&s).await.unwrap() }));
    }
    let mut fired = 0;
    for t in ticks {
        fired += t.await.unwrap();
    }
    assert_eq!(fired, 2, "each due slot fired once");
    assert_eq!(store.schedule_fires(due, 10).await.unwrap().len(), 1);
    assert_eq!(store.schedule_fires(stale, 10).await.unwrap().len(), 0);
    assert_eq!(store.schedule_fires(late, 10).await.unwrap().len(), 1);
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    assert_eq!(jobs["items"].as_array().unwrap().len(), 2);
    for id in [due, stale, late] {
        let s = store.get_schedule(id).await.unwrap().unwrap();
        assert!(s.next_fire_at > chrono::Utc::now(), "moved to the next slot");
    }
    assert_eq!(scheduler::tick(&store).await.unwrap(), 0, "nothing due any more");
    app.stop().await;
}

async fn a_nightly_retrain_chain_runs_through_the_worker(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("energy", "energy-efficiency/ENB2012_data.csv").await;
    let spec = json!({"epochs": 3, "hidden": [8], "latent": 2, "batch_size": 64, "patience": null, "threads": 1});
    let m: serde_json::Value =
        app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": spec})).await.json().await.unwrap();
    let first = m["id"].as_i64().unwrap();
    app.wait_until(&format!("/api/v1/models/{first}"), 120, |m| m["status"] == "ready").await;
    // new rows arrive, then the nightly retrain (and a sample of the new model) runs
    let rows = "X1,X2,X3,X4,X5,X6,X7,X8,Y1,Y2\n0.9,563.5,318.5,122.5,7,2,0.1,1,29.0,30.1\n";
    let r = app.append_rows(ds, "text/csv", rows, &app.admin.clone()).await;
    assert_eq!(r.status().as_u16(), 201);
    let body = json!({"name": "retrain energy", "cron": "0 2 * * *", "template": {"steps": [
        {"kind": "retrain", "model_id": first},
        {"kind": "sample", "model_id": first, "n": 30, "seed": 5}
    ]}});
    let s: serde_json::Value = app.post_json("/api/v1/schedules", &body).await.json().await.unwrap();
    let r = app.post_json(&format!("/api/v1/schedules/{}/run", s["id"]), &json!({})).await;
    let fired: serde_json::Value = r.json().await.unwrap();
    let train_job = fired["jobs"][0]["id"].as_i64().unwrap();
    let sample_job = fired["jobs"][1]["id"].as_i64().unwrap();
    assert_eq!(fired["jobs"][1]["depends_on"], train_job);
    let j = app.wait_job(sample_job, 180).await;
    assert_eq!(j["status"], "succeeded", "{j}");
    let t = app.wait_job(train_job, 10).await;
    let retrained = t["result"]["model_id"].as_i64().unwrap();
    assert_ne!(retrained, first);
    let (_, rm) = app.get_json(&format!("/api/v1/models/{retrained}")).await;
    assert_eq!(rm["parent_model_id"], first);
    assert_eq!(rm["dataset"]["version"], 2, "the latest version");
    let (_, sd) = app.get_json(&format!("/api/v1/datasets/{}", j["result"]["dataset_id"])).await;
    assert_eq!(sd["version"]["lineage"]["model_id"], retrained);
    assert_eq!(sd["row_count"], 30);
    app.stop().await;
}

#[test]
fn cron_slots_follow_the_time_zone_across_daylight_saving() {
    // Europe/Berlin leaves summer time on 2026-10-25: 02:30 local is 00:30 UTC before, 01:30 UTC after
    let c = Cron::parse("30 2 * * *", "Europe/Berlin").unwrap();
    let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(c.next_after(t("2026-10-23T12:00:00Z")).unwrap(), t("2026-10-24T00:30:00Z"));
    assert_eq!(c.next_after(t("2026-10-26T12:00:00Z")).unwrap(), t("2026-10-27T01:30:00Z"));
    assert_eq!(c.last_due(t("2026-10-24T00:30:00Z"), t("2026-10-27T03:00:00Z")).unwrap(), t("2026-10-27T01:30:00Z"));
    assert!(Cron::parse("0 2 * * * * *", "UTC").is_err() || Cron::parse("0 0 2 * * * 2099", "UTC").is_ok());
}

on_both_stores!(
    schedules_are_validated_and_managed,
    each_slot_fires_once_and_missed_slots_follow_the_grace_window,
    a_nightly_retrain_chain_runs_through_the_worker
);
