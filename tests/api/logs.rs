//! No token, secret or row data in the log: `genfab serve` runs as its own process with every
//! log level on, goes through sign-in, token creation, an upload, an append, a refused append
//! and an unknown token, and nothing of those secrets or cells appears in what it wrote.

use crate::helpers::{test_settings, Backend};
use crate::on_both_stores;
use genfab::config::DatabaseConfig;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies a stream's lines into `log`.
fn capture(stream: impl std::io::Read + Send + 'static, log: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut l = log.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    })
}

async fn no_secret_or_cell_reaches_the_log(b: Backend) {
    let (settings, _dir) = test_settings(b).await;
    let admin = settings.admin_token.as_ref().unwrap().expose().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_genfab"));
    cmd.arg("serve")
        .env("GENFAB_STATE_DIR", &settings.state_dir)
        .env("GENFAB_ADMIN_TOKEN", &admin)
        .env("GENFAB_BIND", "127.0.0.1:0")
        .env("GENFAB_LOG_FORMAT", "json")
        .env("GENFAB_LOG", "debug")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &settings.database {
        DatabaseConfig::Postgres(url) => cmd.env("DATABASE_URL", url.expose()),
        DatabaseConfig::Sqlite(_) => cmd.env_remove("DATABASE_URL"),
    };
    let mut server = Server(cmd.spawn().expect("genfab serve starts"));
    let log = Arc::new(Mutex::new(String::new()));
    let readers =
        [capture(server.0.stdout.take().unwrap(), log.clone()), capture(server.0.stderr.take().unwrap(), log.clone())];

    // the port, from the "listening" line
    let end = Instant::now() + Duration::from_secs(60);
    let port = loop {
        let found = log.lock().unwrap().lines().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["fields"]["message"] == "genfab listening").then(|| v["fields"]["port"].as_u64()).flatten()
        });
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < end, "the server did not start: {}", log.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // sign-in on the dashboard
    let r = client.post(url("/login")).form(&[("token", admin.as_str()), ("next", "/")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let r = client.get(url("/admin")).header("cookie", &cookie).send().await.unwrap();
    let page = r.text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();

    // a token from the API and one from the dashboard's form
    let r = client
        .post(url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "line 3 MES", "role": "mes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let mes = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let r = client
        .post(url("/admin/tokens"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("name", "bench"), ("role", "viewer")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap();
    let viewer = page.split("id=\"secret\"").nth(1).and_then(|s| s.split("value=\"").nth(1)).unwrap();
    let viewer = viewer.split('"').next().unwrap().to_string();
    assert!(viewer.starts_with("gf_"), "{viewer}");

    // an upload, an append, an append refused for a bad cell, an unknown token
    let r = client
        .post(url("/api/v1/datasets?name=parts"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body("part,width_mm,note\nP-ZQ71X,918273.645,cell-alpha-7731\nP-ZQ72Y,827364.554,cell-beta-7732\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = client
        .post(url(&format!("/api/v1/datasets/{id}/rows")))
        .bearer_auth(&mes)
        .header("content-type", "text/csv")
        .body("part,width_mm,note\nP-ZQ73Z,736455.463,cell-gamma-7733\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = client
        .post(url(&format!("/api/v1/datasets/{id}/rows")))
        .bearer_auth(&mes)
        .header("content-type", "text/csv")
        .body("part,width_mm,note\nP-ZQ74W,wide-delta-7734,cell-delta-7734\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let detail = r.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("wide-delta-7734"), "the answer quotes the bad cell (the log must not): {detail}");
    let unknown = "gf_not-a-token-but-looks-like-one-7735";
    let r = client.get(url("/api/v1/datasets")).bearer_auth(unknown).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client.get(url(&format!("/api/v1/datasets/{id}/rows"))).bearer_auth(&admin).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("cell-gamma-7733"), "the rows were stored");

    drop(server);
    for r in readers {
        r.join().unwrap();
    }
    let log = log.lock().unwrap().clone();
    assert!(log.contains("genfab listening") && log.contains("/api/v1/datasets"), "the log was captured: {log}");
    let secrets = [admin.as_str(), mes.as_str(), viewer.as_str(), unknown, csrf.as_str()];
    let cells = [
        "P-ZQ71X",
        "918273.645",
        "cell-alpha-7731",
        "P-ZQ72Y",
        "cell-beta-7732",
        "P-ZQ73Z",
        "736455.463",
        "cell-gamma-7733",
        "P-ZQ74W",
        "wide-delta-7734",
        "cell-delta-7734",
    ];
    for s in secrets.iter().chain(cells.iter()) {
        if let Some(line) = log.lines().find(|l| l.contains(s)) {
            panic!("{s:?} is in the log: {line}");
        }
    }
}

on_both_stores!(no_secret_or_cell_reaches_the_log);
