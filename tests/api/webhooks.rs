//! Webhooks on both stores, against a real receiver on a random loopback port that checks each
//! signature with `genfab::webhooks::verify` (the check docs/mes-integration.md describes):
//! signed deliveries, retries through the jobs queue, recorded answers, replay, ping, the
//! job and dataset events, refusals by field, admin only.

use crate::helpers::{assert_problem, spawn_app, spawn_worker_app, Backend, TestApp};
use crate::on_both_stores;
use crate::web::{browser, csrf_in, get_page, sign_in};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use genfab::store::{JobOutcome, NewJob, Store};
use genfab::webhooks::{verify, SignatureError};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SECRET: &str = "receiver-secret-0123456789";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    event: String,
    signature: String,
    body: Vec<u8>,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery body is JSON")
    }
}

struct Receiver {
    /// Answer 500 to this many verified requests first.
    fail_first: usize,
    /// Hold the first request this long before answering it (its sender is killed meanwhile).
    hang_first: Duration,
    got: Mutex<Vec<Received>>,
    /// Delivery ids answered 2xx (a receiver refuses to act on one twice).
    accepted: Mutex<Vec<String>>,
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (delivery, signature) = (header("genfab-delivery"), header("genfab-signature"));
    let verified = verify(SECRET, &signature, &body, chrono::Utc::now().timestamp());
    if !r.hang_first.is_zero() && r.got.lock().unwrap().is_empty() {
        r.got.lock().unwrap().push(Received {
            delivery,
            event: header("genfab-event"),
            signature,
            body: body.to_vec(),
            answered: 0,
        });
        tokio::time::sleep(r.hang_first).await;
        return HttpResponse::Ok().body("too late");
    }
    let mut got = r.got.lock().unwrap();
    let tried = got.iter().filter(|g| g.answered != 401).count();
    let answered = if verified.is_err() || header("content-type") != "application/json" {
        401
    } else if tried < r.fail_first {
        500
    } else {
        let mut accepted = r.accepted.lock().unwrap();
        if !accepted.contains(&delivery) {
            accepted.push(delivery.clone());
        }
        200
    };
    got.push(Received { delivery, event: header("genfab-event"), signature, body: body.to_vec(), answered });
    match answered {
        500 => HttpResponse::InternalServerError().body("receiver down for maintenance"),
        401 => HttpResponse::Unauthorized().body(format!("{verified:?}")),
        _ => HttpResponse::Ok().body("thanks"),
    }
}

/// A receiver on a random loopback port: its URL and what it got.
async fn start_receiver(fail_first: usize) -> (String, web::Data<Receiver>, actix_web::dev::ServerHandle) {
    start_receiver_with(fail_first, Duration::ZERO).await
}

async fn start_receiver_with(
    fail_first: usize,
    hang_first: Duration,
) -> (String, web::Data<Receiver>, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::new(Receiver { fail_first, hang_first, got: Mutex::default(), accepted: Mutex::default() });
    let d = data.clone();
    let server = HttpServer::new(move || App::new().app_data(d.clone()).default_service(web::to(receive)))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hooks"), data, handle)
}

/// Waits until the receiver holds a request `matches` accepts; returns all it holds then.
async fn wait_for(r: &Receiver, secs: u64, what: &str, matches: impl Fn(&Received) -> bool) -> Vec<Received> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        {
            let got = r.got.lock().unwrap();
            if got.iter().any(&matches) {
                return got.clone();
            }
            assert!(Instant::now() < end, "no {what} within {secs} s; the receiver got {got:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn subscribe(app: &TestApp, url: &str, events: &[&str]) -> Value {
    let r = app
        .post_json("/api/v1/webhooks", &json!({ "name": "mes", "url": url, "events": events, "secret": SECRET }))
        .await;
    assert_eq!(r.status().as_u16(), 201);
    r.json().await.unwrap()
}

async fn deliveries(app: &TestApp, webhook: i64) -> Vec<Value> {
    let (s, page) = app.get_json(&format!("/api/v1/webhooks/{webhook}/deliveries")).await;
    assert_eq!(s, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn deliveries_are_signed_retried_recorded_and_replayed(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let (url, receiver, server) = start_receiver(1).await;
    let w = subscribe(&app, &url, &["job.succeeded", "dataset.version_created"]).await;
    let webhook = w["id"].as_i64().unwrap();
    assert_eq!(w["secret"], SECRET, "the secret is shown once, at creation");
    let (_, listed) = app.get_json("/api/v1/webhooks").await;
    assert_eq!(listed["items"][0]["url"], url);
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");
    let (_, one) = app.get_json(&format!("/api/v1/webhooks/{webhook}")).await;
    assert!(one.get("secret").is_none() && one["events"] == json!(["job.succeeded", "dataset.version_created"]));

    // a real job: its job.succeeded is refused once (500), retried by the queue, then delivered
    let job = app.store().await.enqueue(&NewJob::new("noop", json!({}))).await.unwrap();
    assert_eq!(app.wait_job(job, 20).await["status"], "succeeded");
    let got =
        wait_for(&receiver, 20, "accepted job.succeeded", |g| g.event == "job.succeeded" && g.answered == 200).await;
    let tries: Vec<&Received> = got.iter().filter(|g| g.event == "job.succeeded").collect();
    assert_eq!(tries.iter().map(|g| g.answered).collect::<Vec<_>>(), vec![500, 200], "{got:?}");
    assert_eq!(tries[0].delivery, tries[1].delivery, "a retry is the same delivery");
    assert_eq!(tries[0].body, tries[1].body, "a retry sends the same body");
    let body = tries[1].json();
    assert_eq!(body["event"], "job.succeeded");
    assert_eq!(body["id"].to_string(), tries[1].delivery);
    assert_eq!(body["data"]["job_id"], job);
    assert_eq!(body["data"]["kind"], "noop");
    assert_eq!(body["data"]["status"], "succeeded");

    // the signature is over "<t>.<body>": another body, an old timestamp or another secret fail
    let (sig, now) = (&tries[1].signature, chrono::Utc::now().timestamp());
    assert_eq!(verify(SECRET, sig, &tries[1].body, now), Ok(()));
    let tampered = String::from_utf8(tries[1].body.clone()).unwrap().replace("succeeded", "failed");
    assert_eq!(verify(SECRET, sig, tampered.as_bytes(), now), Err(SignatureError::Mismatch));
    assert_eq!(verify(SECRET, sig, &tries[1].body, now + 301), Err(SignatureError::Stale));
    assert_eq!(verify("not-the-secret-at-all", sig, &tries[1].body, now), Err(SignatureError::Mismatch));

    // every attempt is recorded on the delivery
    let id: i64 = tries[1].delivery.parse().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let d = loop {
        let d = deliveries(&app, webhook).await.into_iter().find(|d| d["id"] == id).expect("the delivery is listed");
        if d["status"] == "delivered" || Instant::now() > end {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["last_status"], 200);
    assert_eq!(d["last_response"], "thanks");
    assert!(d["delivered_at"].is_string());
    let (_, delivery_job) = app.get_json(&format!("/api/v1/jobs/{}", d["job_id"])).await;
    assert_eq!(delivery_job["kind"], "webhook");
    assert_eq!(delivery_job["attempts"], 2);
    assert!(delivery_job["last_error"].as_str().unwrap().contains("HTTP 500"), "{delivery_job}");

    // dataset.version_created on an upload and on an append
    let ds = app.upload("wh", "text/csv", "code,x\n1,0.5\n2,0.7\n").await;
    assert_eq!(ds.status().as_u16(), 201);
    let ds = ds.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(app.append_rows(ds, "text/csv", "code,x\n3,0.1\n", &app.admin).await.status().as_u16(), 201);
    let got = wait_for(&receiver, 20, "dataset.version_created v2", |g| {
        g.event == "dataset.version_created" && g.json()["data"]["version"] == 2
    })
    .await;
    let v2 = got.iter().find(|g| g.event == "dataset.version_created" && g.json()["data"]["version"] == 2).unwrap();
    let data = &v2.json()["data"];
    assert_eq!(data["dataset_id"], ds);
    assert_eq!(data["source"], "append");
    assert_eq!(data["row_count"], 3);
    let mut keys: Vec<&String> = data.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["dataset_id", "row_count", "sha256", "source", "version"], "ids and counts, no rows");

    // replay: a new delivery of the same event and data
    let r = app.post_json(&format!("/api/v1/webhooks/{webhook}/deliveries/{id}/replay"), &json!({})).await;
    assert_eq!(r.status().as_u16(), 202);
    let again: Value = r.json().await.unwrap();
    let again_id = again["id"].as_i64().unwrap();
    assert_ne!(again_id, id);
    let got = wait_for(&receiver, 20, "the replay", |g| g.delivery == again_id.to_string() && g.answered == 200).await;
    let replayed = got.iter().find(|g| g.delivery == again_id.to_string()).unwrap().json();
    assert_eq!(replayed["event"], "job.succeeded");
    assert_eq!(replayed["data"], body["data"]);
    assert_eq!(receiver.accepted.lock().unwrap().iter().filter(|a| **a == id.to_string()).count(), 1);

    // ping reaches the receiver whatever the subscription asked for
    let r = app.post_json(&format!("/api/v1/webhooks/{webhook}/ping"), &json!({})).await;
    assert_eq!(r.status().as_u16(), 202);
    wait_for(&receiver, 20, "the ping", |g| g.event == "ping" && g.answered == 200).await;
    let r = app.post_json(&format!("/api/v1/webhooks/{webhook}/deliveries/999999/replay"), &json!({})).await;
    assert_problem(r, 404, &["999999"]).await;

    // deleting the subscription stops its deliveries
    let r = app.client.delete(app.url(&format!("/api/v1/webhooks/{webhook}"))).bearer_auth(&app.admin).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 204);
    let (s, _) = app.get_json(&format!("/api/v1/webhooks/{webhook}")).await;
    assert_eq!(s, 404);
    server.stop(true).await;
    app.stop().await;
}

async fn a_job_failed_event_follows_the_last_attempt_and_an_unreachable_receiver_fails_the_delivery(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let (url, receiver, server) = start_receiver(0).await;
    let (down_url, down, down_server) = start_receiver(usize::MAX).await;
    subscribe(&app, &url, &["job.failed", "job.succeeded"]).await;
    let dw = subscribe(&app, &down_url, &["job.failed"]).await;
    let job = NewJob { max_attempts: 2, ..NewJob::new("noop", json!({ "fail": "the press jammed" })) };
    let job = app.store().await.enqueue(&job).await.unwrap();
    let j = app.wait_job(job, 20).await;
    assert_eq!((j["status"].as_str(), j["attempts"].as_i64()), (Some("failed"), Some(2)));
    let got = wait_for(&receiver, 20, "job.failed", |g| g.event == "job.failed").await;
    // the job's first (retried) attempt sent nothing
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_now = receiver.got.lock().unwrap().clone();
    assert_eq!(got_now.len(), 1, "one event for the job, after its last attempt: {got_now:?}");
    assert_eq!(got[0].json()["data"]["error"], "the press jammed");
    assert_eq!(got[0].json()["data"]["attempts"], 2);

    // the receiver that always answers 500: every attempt is recorded, then the delivery fails
    let dw_id = dw["id"].as_i64().unwrap();
    let end = Instant::now() + Duration::from_secs(25);
    let d = loop {
        let d = deliveries(&app, dw_id).await;
        assert_eq!(d.len(), 1);
        if d[0]["status"] != "pending" || Instant::now() > end {
            break d[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(d["attempts"], genfab::webhooks::DELIVERY_ATTEMPTS);
    assert_eq!(d["last_status"], 500);
    assert_eq!(d["last_response"], "receiver down for maintenance");
    assert_eq!(down.got.lock().unwrap().len(), genfab::webhooks::DELIVERY_ATTEMPTS as usize);
    // the delivery is marked failed by its job's last attempt, just before the job's own outcome
    app.wait_until(&format!("/api/v1/jobs/{}", d["job_id"]), 10, |j| j["status"] == "failed").await;
    // a failed delivery job sends no job.failed of its own
    assert!(receiver.got.lock().unwrap().iter().all(|g| g.json()["data"]["kind"] != "webhook"));

    // the Admin page shows the failed delivery with a Replay button, which queues a new delivery
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let (s, page) = get_page(&app, &cookie, "/admin").await;
    assert_eq!(s, 200);
    let action = format!("/admin/webhooks/{dw_id}/deliveries/{}/replay", d["id"]);
    assert!(page.contains(&action) && page.contains("failed"), "{page}");
    let r = browser().post(app.url(&action)).header("cookie", &cookie).form(&[("csrf", csrf_in(&page))]).send().await;
    assert_eq!(r.unwrap().status().as_u16(), 303);
    let again = deliveries(&app, dw_id).await;
    assert_eq!(again.len(), 2);
    assert_eq!((again[0]["event"].as_str(), again[0]["payload"].clone()), (Some("job.failed"), d["payload"].clone()));
    server.stop(true).await;
    down_server.stop(true).await;
    app.stop().await;
}

async fn bad_subscriptions_are_refused_by_field_and_only_admins_manage_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let ok = json!({ "name": "mes", "url": "http://127.0.0.1:9/hooks", "events": ["job.failed"] });
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("url", json!("ftp://plant/hooks")), "url", "scheme"),
        (with("url", json!("not a url")), "url", "not a URL"),
        (with("url", json!(format!("http://h/{}", "a".repeat(2100)))), "url", "2048"),
        (with("name", json!("")), "name", "1 to 128"),
        (with("name", json!("n".repeat(129))), "name", "1 to 128"),
        (with("events", json!([])), "events", "empty"),
        (with("events", json!("job.failed")), "events", "array"),
        (with("events", json!(["job.failed", "job.exploded"])), "events[1]", "study.run_finished"),
        (with("secret", json!("too-short")), "secret", "16"),
        (with("colour", json!("red")), "colour", "unknown member"),
    ];
    for (body, field, needle) in cases {
        let r = app.post_json("/api/v1/webhooks", &body).await;
        let p = assert_problem(r, 400, &[needle]).await;
        assert_eq!(p["field"], field, "{body}: {p}");
    }
    let r = app.post_body("/api/v1/webhooks", "application/json", "{not json", &app.admin).await;
    assert_problem(r, 400, &[]).await;
    let (_, listed) = app.get_json("/api/v1/webhooks").await;
    assert_eq!(listed["items"], json!([]), "nothing stored");

    // without a secret, 32 random bytes are made, shown once
    let r = app.post_json("/api/v1/webhooks", &ok).await;
    assert_eq!(r.status().as_u16(), 201);
    let w: Value = r.json().await.unwrap();
    let secret = w["secret"].as_str().unwrap();
    assert!(secret.len() == 64 && secret.chars().all(|c| c.is_ascii_hexdigit()), "{secret}");

    for role in ["engineer", "viewer", "mes"] {
        let token = app.token(role).await;
        let r = app.post_json_as("/api/v1/webhooks", &ok, &token).await;
        assert_problem(r, 403, &[]).await;
        let r = app.client.get(app.url("/api/v1/webhooks")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403);
        let r = app.post_json_as(&format!("/api/v1/webhooks/{}/ping", w["id"]), &json!({}), &token).await;
        assert_eq!(r.status().as_u16(), 403);
    }
    let r = app.client.get(app.url("/api/v1/webhooks")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, _) = app.get_json("/api/v1/webhooks/999999/deliveries").await;
    assert_eq!(s, 404);
    let (s, _) = app.get_json("/api/v1/webhooks/abc").await;
    assert_eq!(s, 404);
    // the dashboard's Admin page lists the subscription
    let cookie = sign_in(&app, &app.admin.clone()).await;
    let (s, page) = get_page(&app, &cookie, "/admin").await;
    assert_eq!(s, 200);
    assert!(page.contains("Webhook subscriptions") && page.contains("http://127.0.0.1:9/hooks"), "{page}");
    app.stop().await;
}

fn worker_process(app: &TestApp, name: &str) -> std::process::Child {
    let url = match &app.settings.database {
        genfab::config::DatabaseConfig::Postgres(u) => u.expose().to_string(),
        genfab::config::DatabaseConfig::Sqlite(_) => unreachable!("Postgres only"),
    };
    std::process::Command::new(env!("CARGO_BIN_EXE_genfab"))
        .args(["worker", "--lease-seconds", "2", "--heartbeat-seconds", "0.5", "--poll-seconds", "0.05"])
        .env("DATABASE_URL", url)
        .env("GENFAB_STATE_DIR", app.settings.state_dir.join(name))
        .env("GENFAB_LOG", "warn")
        .spawn()
        .expect("worker process starts")
}

/// `kill -9` of a worker in the middle of a job and of another in the middle of a delivery: the
/// job is taken over and reported once, the delivery is sent again (same id) and recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_job_and_mid_delivery_lose_no_event() {
    let app = spawn_app(Backend::Postgres).await;
    let store = app.store().await;
    let (url, receiver, server) = start_receiver_with(0, Duration::from_secs(30)).await;
    let w = subscribe(&app, &url, &["job.succeeded", "job.failed"]).await;
    let job = store.enqueue(&NewJob::new("noop", json!({ "sleep_ms": 1500 }))).await.unwrap();

    let mut first = worker_process(&app, "first");
    let end = Instant::now() + Duration::from_secs(20);
    while store.get_job(job).await.unwrap().unwrap().status != "running" {
        assert!(Instant::now() < end, "the worker never claimed the job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    // another worker finishes the job after the lease expires and starts delivering its event
    let mut second = worker_process(&app, "second");
    wait_for(&receiver, 30, "the first delivery attempt", |g| g.answered == 0).await;
    second.kill().expect("SIGKILL");
    second.wait().unwrap();
    let j = store.get_job(job).await.unwrap().unwrap();
    assert_eq!((j.status.as_str(), j.attempts), ("succeeded", 2));

    // the in-process worker takes the delivery over: the same delivery again, now answered 200
    let (tx, rx) = tokio::sync::watch::channel(false);
    let s2 = genfab::store::Store::connect(&app.settings.database).await.unwrap();
    let worker = tokio::spawn(genfab::jobs::run_worker(s2, crate::helpers::fast_worker(), rx));
    let got = wait_for(&receiver, 30, "the delivery, sent again", |g| g.answered == 200).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].delivery, got[1].delivery);
    assert_eq!(got[1].json()["data"]["job_id"], job);
    let d = deliveries(&app, w["id"].as_i64().unwrap()).await;
    assert_eq!(d.len(), 1, "one event for the job: {d:?}");
    let end = Instant::now() + Duration::from_secs(10);
    while deliveries(&app, w["id"].as_i64().unwrap()).await[0]["status"] != "delivered" {
        assert!(Instant::now() < end, "the delivery was not recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tx.send(true).unwrap();
    worker.await.unwrap().unwrap();
    server.stop(false).await;
    app.stop().await;
}

/// An https subscription is accepted and delivered over TLS: pointed at a receiver that speaks
/// plain HTTP, the handshake fails, the receiver sees no request it could read, and the attempt
/// is recorded with its error.
async fn an_https_receiver_is_reached_over_tls(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let (url, receiver, server) = start_receiver(0).await;
    let w = subscribe(&app, &url.replace("http://", "https://"), &["job.succeeded"]).await;
    assert!(w["url"].as_str().unwrap().starts_with("https://127.0.0.1:"), "{w}");
    let r = app.post_json(&format!("/api/v1/webhooks/{}/ping", w["id"]), &json!({})).await;
    assert_eq!(r.status().as_u16(), 202);
    let id = w["id"].as_i64().unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    let d = loop {
        let d = deliveries(&app, id).await;
        if d.first().is_some_and(|d| d["attempts"].as_i64().unwrap_or(0) >= 1 && !d["last_error"].is_null()) {
            break d[0].clone();
        }
        assert!(Instant::now() < end, "no attempt recorded: {d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(d["status"], "delivered", "{d}");
    assert!(d["last_status"].is_null(), "no HTTP answer came over TLS: {d}");
    assert!(receiver.got.lock().unwrap().is_empty(), "the receiver read a plain request");
    server.stop(true).await;
    app.stop().await;
}

/// A study run's end and a scoring call that flags parts reach a subscriber, with ids and counts.
async fn study_runs_and_anomalies_are_delivered(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let (url, receiver, server) = start_receiver(0).await;
    subscribe(&app, &url, &["study.run_finished", "detector.anomaly"]).await;

    let spec = json!({"variables": [{"name": "w", "kind": "continuous", "lo": 10, "hi": 50}],
                      "objectives": [{"name": "mass", "expr": "0.8 * w"}]});
    let r = app.post_json("/api/v1/studies", &json!({"name": "bracket", "spec": spec})).await;
    assert_eq!(r.status().as_u16(), 201);
    let study = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = app
        .post_json(&format!("/api/v1/studies/{study}/runs"), &json!({"solver": "random", "budget": 30, "seed": 1}))
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let got = wait_for(&receiver, 60, "study.run_finished", |g| g.event == "study.run_finished").await;
    let run = got.iter().find(|g| g.event == "study.run_finished").unwrap().json();
    assert_eq!(run["data"]["study_id"], study, "{run}");
    assert_eq!(run["data"]["evaluations"], 30, "{run}");
    assert_eq!(run["data"]["status"], "succeeded", "{run}");

    let ds = app.dataset("ai4i2020", "ai4i2020/ai4i2020.csv").await;
    let body = json!({"name": "press 3", "dataset_id": ds, "normal": {"label": "Machine failure", "value": 0},
                      "columns": crate::detectors::COLUMNS, "spec": {"hidden": [16], "latent": 2, "epochs": 20},
                      "calibration": {"method": "max_f1"}});
    let d: Value = app.post_json("/api/v1/detectors", &body).await.json().await.unwrap();
    let job = app.wait_job(d["job"]["id"].as_i64().unwrap(), 180).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let rows = crate::detectors::ai4i_rows(0..10_000, Some(true));
    let r = app.post_json(&format!("/api/v1/detectors/{}/score", d["id"]), &json!({ "rows": &rows[..60] })).await;
    let scored: Value = r.json().await.unwrap();
    let flagged = scored["anomalies"].as_u64().unwrap();
    assert!(flagged > 0, "no failure flagged: {scored}");
    let got = wait_for(&receiver, 30, "detector.anomaly", |g| g.event == "detector.anomaly").await;
    let events: Vec<Value> = got.iter().filter(|g| g.event == "detector.anomaly").map(|g| g.json()).collect();
    assert_eq!(events.len(), 1, "one event per scoring call: {events:?}");
    let data = &events[0]["data"];
    assert_eq!((data["detector_id"].clone(), data["anomalies"].as_u64()), (d["id"].clone(), Some(flagged)), "{data}");
    assert_eq!(data["scored"], 60, "{data}");
    assert!(data["parts"].as_array().unwrap().iter().all(|p| p.as_str().unwrap().starts_with("udi-")), "{data}");
    assert!(!events[0].to_string().contains("Torque"), "no row values in an event: {data}");
    server.stop(true).await;
    app.stop().await;
}

/// Makes the store refuse (`on`) or accept again every new delivery, with a trigger that raises
/// an error, as a full disk or a broken constraint would.
async fn refuse_deliveries(store: &Store, on: bool) {
    let statements: &[&str] = match (store, on) {
        (Store::Postgres(_), true) => &[
            "CREATE FUNCTION refuse_delivery() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'deliveries refused by the test'; END $$",
            "CREATE TRIGGER refuse_delivery BEFORE INSERT ON webhook_deliveries \
             FOR EACH ROW EXECUTE FUNCTION refuse_delivery()",
        ],
        (Store::Postgres(_), false) => &["DROP TRIGGER refuse_delivery ON webhook_deliveries"],
        (Store::Sqlite(_), true) => &["CREATE TRIGGER refuse_delivery BEFORE INSERT ON webhook_deliveries \
             BEGIN SELECT RAISE(ABORT, 'deliveries refused by the test'); END"],
        (Store::Sqlite(_), false) => &["DROP TRIGGER refuse_delivery"],
    };
    for q in statements {
        match store {
            Store::Postgres(p) => sqlx::raw_sql(q).execute(p).await.map(|_| ()),
            Store::Sqlite(p) => sqlx::raw_sql(q).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}

/// An event is queued in the transaction of the write it reports on: when its delivery cannot
/// be written, the write fails and leaves nothing behind (no version, no outcome, no delivery);
/// once deliveries can be written again, each write and its one delivery are there together.
async fn an_event_that_cannot_be_queued_fails_the_write_it_reports_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let store = app.store().await;
    let w =
        subscribe(&app, "http://127.0.0.1:9/hooks", &["dataset.version_created", "job.succeeded", "job.failed"]).await;
    let webhook = w["id"].as_i64().unwrap();
    let events = |d: &[Value]| d.iter().map(|d| d["event"].as_str().unwrap().to_string()).collect::<Vec<_>>();

    let r = app.upload("wh", "text/csv", "code,x\n1,0.5\n2,0.7\n").await;
    assert_eq!(r.status().as_u16(), 201);
    let ds = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(events(&deliveries(&app, webhook).await), ["dataset.version_created"], "queued with the upload");
    let job = |max_attempts| NewJob { max_attempts, ..NewJob::new("noop", json!({})) };
    let (ok, last, retried, swept) = (
        store.enqueue(&job(3)).await.unwrap(),
        store.enqueue(&job(1)).await.unwrap(),
        store.enqueue(&job(3)).await.unwrap(),
        store.enqueue(&job(1)).await.unwrap(),
    );
    let claim = |id: i64, secs: i64| {
        let store = store.clone();
        async move { store.claim_job("test", chrono::Duration::seconds(secs), Some(&[id])).await.unwrap().unwrap() }
    };
    let (ok, last, retried, swept) =
        (claim(ok, 60).await, claim(last, 60).await, claim(retried, 60).await, claim(swept, -1).await);
    let failed = |retry| JobOutcome::Failed { error: "the press jammed".into(), retry };

    refuse_deliveries(&store, true).await;
    // an append, a new dataset: refused whole
    let r = app.append_rows(ds, "text/csv", "code,x\n3,0.1\n", &app.admin).await;
    assert_eq!(r.status().as_u16(), 500, "{}", r.text().await.unwrap());
    let versions = store.list_versions(ds).await.unwrap();
    assert_eq!(versions.iter().map(|v| (v.version, v.row_count)).collect::<Vec<_>>(), [(1, 2)], "no version 2");
    assert_eq!(store.get_dataset(ds).await.unwrap().unwrap().row_count, 2);
    let r = app.upload("wh-refused", "text/csv", "code,x\n1,0.5\n").await;
    assert_eq!(r.status().as_u16(), 500, "{}", r.text().await.unwrap());
    assert_eq!(store.dataset_id_by_name("wh-refused").await.unwrap(), None, "no dataset without its event");
    // a job's success, its failure after the last attempt, the sweep of a job whose worker
    // vanished: not recorded, the jobs stay running (the worker tries to record them again)
    let retry_base = Duration::from_millis(50);
    assert!(store.finish_job(&ok, &JobOutcome::Succeeded(json!({})), retry_base).await.is_err());
    assert!(store.finish_job(&last, &failed(true), retry_base).await.is_err());
    assert!(store.sweep_expired().await.is_err());
    for j in [&ok, &last, &swept] {
        assert_eq!(store.get_job(j.id).await.unwrap().unwrap().status, "running", "job {}", j.id);
    }
    // a retry sends nothing, so nothing stops it
    assert!(store.finish_job(&retried, &failed(true), retry_base).await.unwrap());
    assert_eq!(store.get_job(retried.id).await.unwrap().unwrap().status, "queued");
    assert_eq!(events(&deliveries(&app, webhook).await), ["dataset.version_created"], "nothing half-written");

    refuse_deliveries(&store, false).await;
    let r = app.append_rows(ds, "text/csv", "code,x\n3,0.1\n", &app.admin).await;
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(store.get_dataset(ds).await.unwrap().unwrap().latest_version, 2);
    assert!(store.finish_job(&ok, &JobOutcome::Succeeded(json!({})), retry_base).await.unwrap());
    assert!(store.finish_job(&last, &failed(true), retry_base).await.unwrap());
    assert_eq!(store.sweep_expired().await.unwrap(), 1);
    assert_eq!(store.get_job(swept.id).await.unwrap().unwrap().status, "failed");
    let d = deliveries(&app, webhook).await;
    assert_eq!(
        events(&d),
        ["job.failed", "job.failed", "job.succeeded", "dataset.version_created", "dataset.version_created"],
        "one delivery per write, newest first: {d:?}"
    );
    assert_eq!((d[0]["payload"]["job_id"].as_i64(), d[0]["payload"]["attempts"].as_i64()), (Some(swept.id), Some(1)));
    assert_eq!(d[1]["payload"]["job_id"].as_i64(), Some(last.id));
    assert_eq!(d[1]["payload"]["error"], "the press jammed");
    assert_eq!(d[2]["payload"]["job_id"].as_i64(), Some(ok.id));
    assert_eq!((d[3]["payload"]["version"].as_i64(), d[3]["payload"]["row_count"].as_i64()), (Some(2), Some(3)));
    for delivery in &d {
        let (_, j) = app.get_json(&format!("/api/v1/jobs/{}", delivery["job_id"])).await;
        assert_eq!((j["kind"].as_str(), j["status"].as_str()), (Some("webhook"), Some("queued")), "{j}");
    }
    app.stop().await;
}

on_both_stores!(
    an_event_that_cannot_be_queued_fails_the_write_it_reports_on,
    study_runs_and_anomalies_are_delivered,
    an_https_receiver_is_reached_over_tls,
    deliveries_are_signed_retried_recorded_and_replayed,
    a_job_failed_event_follows_the_last_attempt_and_an_unreachable_receiver_fails_the_delivery,
    bad_subscriptions_are_refused_by_field_and_only_admins_manage_webhooks,
);
