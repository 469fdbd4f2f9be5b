//! The real binary: help, migrate, token create, serve with SIGTERM (graceful stop).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn genfab() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_genfab"));
    c.env_remove("DATABASE_URL")
        .env_remove("GENFAB_ADMIN_TOKEN")
        .env("GENFAB_LOG_FORMAT", "pretty")
        .env("NO_COLOR", "1");
    c
}

#[test]
fn help_explains_every_command() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["worker", "--help"],
        vec!["token", "create", "--help"],
        vec!["bench", "upload", "--help"],
        vec!["bench", "queue", "--help"],
        vec!["batch", "run", "--help"],
        vec!["synth", "--help"],
        vec!["report", "--help"],
        vec!["optimize", "--help"],
        vec!["bench", "optimize", "--help"],
        vec!["bench", "study", "--help"],
        vec!["bench", "anomaly", "--help"],
    ] {
        let out = genfab().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
    let out = genfab().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in
        ["--bind", "--demo", "--admin-token", "--max-body-bytes", "--database-url", "--state-dir", "GENFAB_BIND"]
    {
        assert!(text.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn secrets_from_the_environment_stay_out_of_help() {
    let out = genfab().env("GENFAB_ADMIN_TOKEN", "supersecret-admin-token").args(["serve", "--help"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("supersecret"));
}

#[test]
fn migrate_and_token_create_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = genfab().arg("--state-dir").arg(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("genfab.db").exists());
    let out = genfab()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["token", "create", "--role", "mes", "--name", "line 3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("gf_") && token.len() > 40, "{token}");
    let out = genfab()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["token", "create", "--role", "root", "--name", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'root' is not a role"));
    let out = genfab().env("DATABASE_URL", "mysql://x/y").arg("migrate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://"));
}

#[test]
fn batch_run_fires_a_schedule_and_runs_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let out = genfab().arg("--state-dir").arg(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = genfab::config::DatabaseConfig::Sqlite(dir.path().join("genfab.db"));
    rt.block_on(async {
        let store = genfab::store::Store::connect(&db).await.unwrap();
        let s = genfab::store::NewSchedule {
            name: "night shift".into(),
            cron: "0 2 * * *".into(),
            timezone: "UTC".into(),
            template: serde_json::json!({"steps": [{"kind": "noop"}, {"kind": "noop", "sleep_ms": 10}]}),
            grace_seconds: 3600,
            next_fire_at: chrono::Utc::now() + chrono::Duration::hours(1),
        };
        store.create_schedule(&s).await.unwrap().unwrap();
        store.close().await;
    });
    let out = genfab().arg("--state-dir").arg(dir.path()).args(["batch", "run", "night shift"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["status"] == "succeeded"), "{lines:?}");
    let out = genfab().arg("--state-dir").arg(dir.path()).args(["batch", "run", "day shift"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no schedule has the id or name 'day shift'"));
}

#[test]
fn report_measures_a_synthetic_file_against_a_real_one() {
    let real = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ai4i2020/ai4i2020.csv");
    // a file against itself: every column and pair scores 1, and every row of the 90 % the
    // privacy check treats as training rows is an exact copy
    let out = genfab().args(["report", real, real, "--label", "Type"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((v["quality"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{v}");
    assert_eq!(v["exact_copies"], 9000);
    // a synthetic file without a modelled column is refused, naming it
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(real).unwrap();
    let cut: String =
        text.lines().map(|l| l.split(',').take(6).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join("\n");
    let short = dir.path().join("short.csv");
    std::fs::write(&short, cut).unwrap();
    let out = genfab().args(["report", real]).arg(&short).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lacks the real file's columns"));
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = genfab()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first start prints the admin token once on stdout.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("first admin token"), "{line}");
    let file_token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    assert!(line.contains(file_token.trim()));
    // Drain stderr in a thread, as a service manager would, and pick the port from the log.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut port = None;
    let mut log = String::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(30)) {
        log.push_str(&l);
        log.push('\n');
        if let Some(p) = l.split("port=").nth(1) {
            port = p.split_whitespace().next().and_then(|p| p.parse::<u16>().ok());
            break;
        }
    }
    let port = port.unwrap_or_else(|| panic!("no port in log:\n{log}"));
    let addr = format!("127.0.0.1:{port}");
    // Ready once /healthz answers (signal handlers are installed by then).
    let healthz = || -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let start = Instant::now();
    while !healthz().is_some_and(|r| r.starts_with("HTTP/1.0 200")) {
        assert!(start.elapsed() < Duration::from_secs(30), "server not ready on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!log.contains(file_token.trim()), "the token must not reach the log");
    let pid = child.id() as i32;
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            while let Ok(l) = rx.try_recv() {
                log.push_str(&l);
                log.push('\n');
            }
            assert!(s.success(), "exit status {s:?}, log:\n{log}");
            assert!(log.contains("SIGTERM received"), "{log}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn train_and_sample_on_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("ai4i.safetensors");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ai4i2020/ai4i2020.csv");
    let out = genfab()
        .args([
            "train",
            data,
            "--epochs",
            "3",
            "--hidden",
            "32,32",
            "--latent",
            "4",
            "--condition",
            "Type",
            "--json",
            "--out",
        ])
        .arg(&model)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON summary");
    assert_eq!(report["rows"], 10000);
    assert_eq!(report["epochs_run"], 3);
    assert!(report["final_val_loss"].as_f64().unwrap().is_finite());
    assert!(model.exists());

    let csv = dir.path().join("s.csv");
    let out = genfab()
        .arg("sample")
        .arg(&model)
        .args(["--n", "300", "--condition", "Type=L", "--seed", "3", "--out"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "Type");
    assert!(!header.contains(&"UDI") && !header.contains(&"Product ID"), "id columns are not modelled: {header:?}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|r| r[0] == "L"), "every row has the asked class");
    let speed = header.iter().position(|h| *h == "Rotational speed [rpm]").unwrap();
    assert!(rows.iter().all(|r| r[speed].parse::<i64>().is_ok()), "integer columns come back whole");

    // Bad requests fail with a clear message.
    let out = genfab()
        .arg("sample")
        .arg(&model)
        .args(["--n", "5", "--condition", "Type=X", "--out"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("'X'"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = genfab().args(["train", data, "--latent", "0", "--out"]).arg(&model).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("latent"));
    let out = genfab().args(["train", data, "--condition", "nope", "--out"]).arg(&model).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// `genfab optimize` on the crossed-barrel data (Gongora et al. 2020, headerless CSV): a GP
/// surrogate of toughness, maximised within the bounds of the dataset's config.json.
#[test]
fn optimize_on_files_maximises_a_surrogate() {
    let dir = tempfile::tempdir().unwrap();
    let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/crossed-barrel/data.csv")).unwrap();
    let data = dir.path().join("barrel.csv");
    std::fs::write(&data, format!("n,theta,r,t,toughness\n{raw}")).unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(
        &spec,
        serde_json::json!({
            "variables": [
                {"name": "n", "kind": "continuous", "lo": 6, "hi": 12},
                {"name": "theta", "kind": "continuous", "lo": 0, "hi": 200},
                {"name": "r", "kind": "continuous", "lo": 1.5, "hi": 2.5},
                {"name": "t", "kind": "continuous", "lo": 0.7, "hi": 1.4}
            ],
            "surrogates": [{"name": "tough", "target": "toughness", "model": {"kind": "gp"}}],
            "objectives": [{"name": "toughness", "expr": "tough", "goal": "maximize"}]
        })
        .to_string(),
    )
    .unwrap();
    let out = dir.path().join("candidates.csv");
    let run = genfab()
        .args(["optimize", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--solver", "particle_swarm"])
        .args(["--budget", "300", "--seed", "2", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["evaluations"], 300);
    assert!(report["surrogates"][0]["r2"].as_f64().unwrap() > 0.5, "{report}");
    let best = report["best"]["objectives"]["toughness"].as_f64().unwrap();
    // the toughest rows in the data measure 46.7, 44.9 and 44.4 (the 5th column's top three);
    // a surrogate optimum belongs among them, not in the bulk (median 15.7)
    assert!(best > 35.0, "{report}");
    for (k, (lo, hi)) in [("n", (6.0, 12.0)), ("theta", (0.0, 200.0)), ("r", (1.5, 2.5)), ("t", (0.7, 1.4))] {
        let v = report["best"]["design"][k].as_f64().unwrap();
        assert!((lo..=hi).contains(&v), "{k} = {v}");
    }
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().next().unwrap(), "iteration,n,theta,r,t,objective_toughness,violation,feasible,novelty");
    assert_eq!(csv.lines().count(), 301);

    // a broken spec: the error names the field and the position
    std::fs::write(&spec, r#"{"variables": [{"name": "n", "kind": "continuous", "lo": 6, "hi": 12}], "objectives": [{"name": "a", "expr": "n *"}]}"#).unwrap();
    let bad = genfab().args(["optimize", spec.to_str().unwrap(), "--budget", "5"]).output().unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("objectives[0].expr") && err.contains("at 3"), "{err}");
}
