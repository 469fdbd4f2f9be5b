//! Anomaly detectors over HTTP: a `calibrate` job trains on the normal rows of AI4I 2020 and
//! chooses a threshold; the MES scores rows (JSON or CSV) and gets a verdict with the columns
//! to blame, or an error per bad row; the timeline, versions, recalibration, drift and metrics;
//! roles; bad detectors refused with the field and nothing stored.

use crate::helpers::{assert_problem, data_file, spawn_app, spawn_worker_app, Backend, TestApp};
use crate::on_both_stores;
use serde_json::{json, Value};

/// The columns the detectors read: the machine type and the five process measurements.
pub(crate) const COLUMNS: [&str; 6] = [
    "Type",
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
];
const TORQUE: &str = "Torque [Nm]";
const SPEED: &str = "Rotational speed [rpm]";
const WEAR: &str = "Tool wear [min]";

/// A small VAE: each calibration trains in a few seconds.
fn tiny_spec() -> Value {
    json!({"hidden": [16], "latent": 2, "epochs": 30, "batch_size": 64, "patience": null, "threads": 1})
}

/// The AI4I file's lines (header first, BOM and all).
fn ai4i_lines() -> Vec<String> {
    String::from_utf8(data_file("ai4i2020/ai4i2020.csv")).unwrap().lines().map(str::to_string).collect()
}

/// The header and the first `rows` records of the AI4I file, as a CSV body.
fn ai4i_head(rows: usize) -> String {
    let lines = ai4i_lines();
    let mut out = lines[..=rows].join("\n");
    out.push('\n');
    out
}

/// Records `which` (0 = the first data row) of the AI4I file as JSON rows of the model's
/// columns (numbers as numbers), with `_id` "udi-UDI"; `failure` says which to keep.
pub(crate) fn ai4i_rows(which: impl IntoIterator<Item = usize>, failure: Option<bool>) -> Vec<Value> {
    let lines = ai4i_lines();
    let header: Vec<String> = lines[0].trim_start_matches('\u{feff}').split(',').map(str::to_string).collect();
    let mut out = vec![];
    for line in which.into_iter().map(|i| &lines[i + 1]) {
        let cells: Vec<&str> = line.split(',').collect();
        let get = |name: &str| cells[header.iter().position(|h| h == name).unwrap()];
        if let Some(f) = failure {
            if (get("Machine failure") == "1") != f {
                continue;
            }
        }
        let mut row = serde_json::Map::new();
        row.insert("_id".into(), json!(format!("udi-{}", get("UDI"))));
        for c in COLUMNS {
            let v = if c == "Type" { json!(get(c)) } else { json!(get(c).parse::<f64>().unwrap()) };
            row.insert(c.into(), v);
        }
        out.push(Value::Object(row));
    }
    out
}

/// Creates a detector (202, Location, a `calibrate` job); returns its id and job id.
async fn create(app: &TestApp, body: &Value) -> (i64, i64) {
    let r = app.post_json("/api/v1/detectors", body).await;
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_i64().expect("detector id");
    assert_eq!(location.as_deref(), Some(format!("/api/v1/detectors/{id}").as_str()));
    assert_eq!(v["name"], body["name"]);
    let job = v["job"]["id"].as_i64().expect("job id");
    assert_eq!(v["job"]["url"], format!("/api/v1/jobs/{job}"));
    (id, job)
}

/// Waits for a calibration job; it must succeed. Returns the job.
async fn calibrated(app: &TestApp, job: i64) -> Value {
    let j = app.wait_job(job, 240).await;
    assert_eq!(j["status"], "succeeded", "calibration job: {j}");
    assert_eq!(j["kind"], "calibrate");
    j
}

/// `POST /detectors/{id}/score` with a JSON body as `token`: (status, answer).
async fn score(app: &TestApp, id: i64, body: &Value, token: &str) -> (u16, Value) {
    let r = app.post_json_as(&format!("/api/v1/detectors/{id}/score"), body, token).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Scores that must come back 200.
async fn score_ok(app: &TestApp, id: i64, body: &Value) -> Value {
    let (s, v) = score(app, id, body, &app.admin).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A version's calibration method by name (`"max_f1"` or `{"method": "max_f1", ...}`).
fn method(v: &Value) -> &str {
    let m = &v["method"];
    m.as_str().or_else(|| m["method"].as_str()).unwrap_or_else(|| panic!("no calibration method in {v}"))
}

/// The top-contribution list of a scored row: 3 model columns, shares in [0, 1], largest first.
fn check_top(row: &Value) {
    let top = row["top"].as_array().unwrap_or_else(|| panic!("no top in {row}"));
    assert_eq!(top.len(), 3, "{row}");
    let mut total = 0.0;
    for t in top {
        let c = t["column"].as_str().unwrap();
        assert!(COLUMNS.contains(&c), "{c} is not a column the model reads");
        let share = f(&t["share"]);
        assert!((0.0..=1.0).contains(&share), "{t}");
        total += share;
        assert!(t.get("value").is_some() && t.get("expected").is_some(), "{t}");
    }
    assert!(total <= 1.0 + 1e-9, "{row}");
    let shares: Vec<f64> = top.iter().map(|t| f(&t["share"])).collect();
    assert!(shares.windows(2).all(|w| w[0] >= w[1]), "largest share first: {shares:?}");
}

/// The values of `name`'s metric lines with all `labels` (`k="v"`), from Prometheus text.
fn metric(text: &str, name: &str, labels: &[&str]) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|k| l.contains(k)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .collect()
}

/// Every scored row of a timeline query, following the cursor.
async fn timeline(app: &TestApp, id: i64, query: &str) -> Vec<Value> {
    let base = format!("/api/v1/detectors/{id}/scores?{query}");
    let mut url = base.clone();
    let mut out = vec![];
    loop {
        let (s, page) = app.get_json(&url).await;
        assert_eq!(s, 200, "{url}: {page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{base}&cursor={c}"),
            None => return out,
        }
    }
}

async fn detector_learns_normal_rows_and_scores_with_reasons(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.dataset("ai4i", "ai4i2020/ai4i2020.csv").await;
    let (id, job) = create(
        &app,
        &json!({
            "name": "milling line 1", "dataset_id": ds,
            "normal": {"label": "Machine failure", "value": 0},
            "columns": COLUMNS, "spec": tiny_spec(),
            "calibration": {"method": "max_f1"}, "seed": 3
        }),
    )
    .await;
    let j = calibrated(&app, job).await;
    assert_eq!(j["result"]["detector_id"], id);
    assert_eq!(j["result"]["version"], 1);

    let (s, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(d["status"], "ready", "{d}");
    assert_eq!(d["current_version"], 1);
    let v = &d["version"];
    assert_eq!(v["version"], 1);
    assert_eq!(method(v), "max_f1", "{v}");
    assert_eq!(v["dataset_version"], 1);
    let threshold = f(&v["threshold"]);
    assert!(threshold.is_finite(), "{v}");
    let auroc = f(&v["auroc"]);
    assert!(auroc > 0.6, "normal rows against AI4I's 339 failures: AUROC {auroc}");
    assert!((0.0..=1.0).contains(&f(&v["recall"])) && (0.0..=1.0).contains(&f(&v["false_alarm_rate"])), "{v}");
    // 9,661 normal rows split into training and hold-out; the 339 failures only calibrate
    let rows = &v["summary"]["rows"];
    assert_eq!(rows["faults"], 339, "{v}");
    assert_eq!(rows["train"].as_i64().unwrap() + rows["holdout"].as_i64().unwrap(), 9661, "{v}");
    assert_eq!(d["last_24h"], json!({"scored": 0, "anomalies": 0}));
    assert_eq!(d["drift"]["rows"], 0);
    assert!(d["drift"]["score"].is_null());

    // the version with its curves
    let (s, full) = app.get_json(&format!("/api/v1/detectors/{id}/versions/1")).await;
    assert_eq!(s, 200, "{full}");
    assert_eq!(full["threshold"], v["threshold"]);
    let curves = &full["curves"];
    assert!(curves["roc"].as_array().is_some_and(|a| a.len() >= 2), "{curves}");
    assert!(curves["pr"].as_array().is_some_and(|a| a.len() >= 2), "{curves}");
    assert_eq!(curves["auroc"], v["auroc"]);
    let roc = curves["roc"].as_array().unwrap();
    assert_eq!(roc[0], json!([0.0, 0.0]));
    assert_eq!(roc[roc.len() - 1], json!([1.0, 1.0]));
    let (_, list) = app.get_json(&format!("/api/v1/detectors/{id}/versions")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("curves").is_none(), "the listing leaves the curves out");
    let (_, all) = app.get_json("/api/v1/detectors").await;
    assert_eq!(all["items"][0]["id"], id);

    // a batch: normal rows, a seized spindle (torque 500 Nm), and rows that cannot be scored
    let normal = ai4i_rows(0..40, Some(false));
    let mut seized = normal[5].clone();
    seized[TORQUE] = json!(500.0);
    seized["_id"] = json!("seized");
    let mut no_wear = normal[6].clone();
    no_wear.as_object_mut().unwrap().remove(WEAR);
    no_wear["_id"] = json!("no-wear");
    let mut colour = normal[7].clone();
    colour["Colour"] = json!("red");
    colour["_id"] = json!("colour");
    let mut abc = normal[8].clone();
    abc[SPEED] = json!("abc");
    abc["_id"] = json!("abc");
    let mut q = normal[9].clone();
    q["Type"] = json!("Q");
    q["_id"] = json!("type-q");
    let batch = vec![
        normal[0].clone(),
        no_wear,
        normal[1].clone(),
        seized,
        colour,
        abc,
        json!(42),
        q,
        normal[2].clone(),
        normal[3].clone(),
    ];
    let out = score_ok(&app, id, &json!({"rows": batch})).await;
    assert_eq!(out["detector_id"], id);
    assert_eq!(out["version"], 1);
    assert_eq!(f(&out["threshold"]), threshold);
    assert_eq!(out["scored"], 5, "{out}");
    assert_eq!(out["errors"], 5, "{out}");
    let rows = out["rows"].as_array().unwrap();
    assert_eq!(rows.len(), batch.len(), "one answer per request row");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["row"], i, "in request order: {r}");
        if batch[i].is_object() {
            assert_eq!(r["id"], batch[i]["_id"], "{r}");
        }
    }
    // refused rows name their column and say why
    let error_of = |i: usize| -> (Option<String>, String) {
        let errs = rows[i]["errors"].as_array().unwrap_or_else(|| panic!("row {i} has no errors: {}", rows[i]));
        assert_eq!(errs.len(), 1, "{}", rows[i]);
        assert!(rows[i].get("score").is_none(), "{}", rows[i]);
        (errs[0]["column"].as_str().map(str::to_string), errs[0]["message"].as_str().unwrap().to_string())
    };
    let (c, m) = error_of(1);
    assert_eq!(c.as_deref(), Some(WEAR));
    assert!(m.contains("missing"), "{m}");
    let (c, m) = error_of(4);
    assert_eq!(c.as_deref(), Some("Colour"));
    assert!(m.contains("not a column"), "{m}");
    let (c, m) = error_of(5);
    assert_eq!(c.as_deref(), Some(SPEED));
    assert!(m.contains("abc") && m.contains("not a number"), "{m}");
    let (c, m) = error_of(6);
    assert_eq!(c, None);
    assert!(m.contains("42"), "{m}");
    let (c, m) = error_of(7);
    assert_eq!(c.as_deref(), Some("Type"));
    assert!(m.contains("'Q'") && m.contains("H, L, M"), "{m}");
    // scored rows carry a verdict against the threshold and the columns to blame
    let mut anomalies = 0;
    for i in [0, 2, 3, 8, 9] {
        let r = &rows[i];
        let s = f(&r["score"]);
        assert!(s.is_finite(), "{r}");
        assert_eq!(r["anomaly"], s > threshold, "{r}");
        assert_eq!(r["verdict"], if s > threshold { "anomaly" } else { "ok" });
        assert_eq!(r["version"], 1);
        assert_eq!(f(&r["threshold"]), threshold);
        assert!(r.get("errors").is_none(), "{r}");
        check_top(r);
        anomalies += (s > threshold) as i64;
    }
    assert_eq!(out["anomalies"], anomalies);
    let seized = &rows[3];
    assert_eq!(seized["verdict"], "anomaly", "{seized}");
    let blamed = seized["top"].as_array().unwrap().iter().find(|t| t["column"] == TORQUE);
    let blamed = blamed.unwrap_or_else(|| panic!("torque among the columns to blame: {seized}"));
    assert_eq!(f(&blamed["value"]), 500.0);
    assert!(f(&blamed["expected"]) < 200.0, "the model expects a normal torque: {blamed}");
    for i in [0, 2, 8, 9] {
        assert!(f(&rows[i]["score"]) < f(&seized["score"]), "{} against {seized}", rows[i]);
    }

    // common random numbers: a row scores the same alone as in the batch; a bare array works too
    let alone = score_ok(&app, id, &json!([normal[1]])).await;
    assert_eq!(alone["scored"], 1);
    let alone = &alone["rows"][0];
    assert_eq!(alone["row"], 0);
    assert_eq!(alone["id"], normal[1]["_id"]);
    assert_eq!(alone["score"], rows[2]["score"], "alone {alone} vs in the batch {}", rows[2]);
    assert_eq!(alone["top"], rows[2]["top"]);
    // extra columns of the dataset (id, label, failure modes) are allowed and ignored
    let mut full_row = normal[1].clone();
    for (k, v) in [("UDI", json!(2)), ("Product ID", json!("L47181")), ("Machine failure", json!(0)), ("TWF", json!(0))]
    {
        full_row[k] = v;
    }
    let again = score_ok(&app, id, &json!({"rows": [full_row]})).await;
    assert_eq!(again["rows"][0]["score"], rows[2]["score"], "{again}");

    // the timeline: every scored row, newest first, with what was read and why
    let items = timeline(&app, id, "limit=2").await;
    assert_eq!(items.len(), 7, "5 + 1 + 1 scored rows, errors are not kept");
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let parts: Vec<&str> = items.iter().map(|i| i["part"].as_str().unwrap()).collect();
    let id_of = |n: usize| normal[n]["_id"].as_str().unwrap();
    assert_eq!(parts, [id_of(1), id_of(1), id_of(3), id_of(2), "seized", id_of(1), id_of(0)]);
    let seized_item = items.iter().find(|i| i["part"] == "seized").unwrap();
    assert_eq!(seized_item["verdict"], "anomaly");
    assert_eq!(seized_item["score"], seized["score"]);
    assert_eq!(seized_item["version"], 1);
    assert_eq!(f(&seized_item["values"][TORQUE]), 500.0, "{seized_item}");
    assert_eq!(seized_item["values"]["Type"], normal[5]["Type"]);
    assert_eq!(seized_item["top"], seized["top"]);
    assert!(chrono::DateTime::parse_from_rfc3339(seized_item["scored_at"].as_str().unwrap()).is_ok());
    // only anomalies
    let flagged = timeline(&app, id, "anomalies=true").await;
    assert!(flagged.iter().all(|i| i["verdict"] == "anomaly"), "{flagged:?}");
    assert!(flagged.iter().any(|i| i["part"] == "seized"));
    let expected_flagged = items.iter().filter(|i| i["verdict"] == "anomaly").count();
    assert_eq!(flagged.len(), expected_flagged);
    // since: nothing from the future, everything from an hour ago
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(timeline(&app, id, &format!("since={later}")).await.is_empty());
    let earlier = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(timeline(&app, id, &format!("since={earlier}")).await.len(), 7);
    let r = app
        .client
        .get(app.url(&format!("/api/v1/detectors/{id}/scores?since=yesterday")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(assert_problem(r, 400, &["yesterday"]).await["field"], "since");
    for (q, field) in
        [("limit=0", Some("limit")), ("cursor=zzz", Some("cursor")), ("anomalies=maybe", None), ("version=two", None)]
    {
        let url = app.url(&format!("/api/v1/detectors/{id}/scores?{q}"));
        let p = assert_problem(app.client.get(url).bearer_auth(&app.admin).send().await.unwrap(), 400, &[]).await;
        if let Some(field) = field {
            assert_eq!(p["field"], field, "{q}: {p}");
        }
    }
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(d["last_24h"]["scored"], 7, "{d}");
    assert_eq!(d["last_24h"]["anomalies"], expected_flagged as i64);
    app.stop().await;
}

async fn csv_bodies_and_unreadable_requests(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.upload("ai4i-3000", "text/csv", ai4i_head(3000)).await;
    assert_eq!(ds.status().as_u16(), 201);
    let ds = ds.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (id, job) = create(
        &app,
        &json!({"name": "csv", "dataset_id": ds, "normal": {"label": "Machine failure", "value": false},
                "columns": COLUMNS, "spec": tiny_spec(), "calibration": {"method": "recall", "target": 0.8}}),
    )
    .await;
    calibrated(&app, job).await;
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(method(&d["version"]), "recall", "{d}");
    assert!(f(&d["version"]["recall"]) >= 0.8, "{d}");
    let path = format!("/api/v1/detectors/{id}/score");

    // CSV as the file has it (BOM, every column), with a short record among good ones
    let lines = ai4i_lines();
    let body = format!("{}\n{}\n{}\n3004,M18,M,298\n{}\n", lines[0], lines[3001], lines[3002], lines[3003]);
    let r = app.post_body(&path, "text/csv", body, &app.admin).await;
    assert_eq!(r.status().as_u16(), 200);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["scored"], 3, "{out}");
    assert_eq!(out["errors"], 1);
    let rows = out["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let errs = rows[2]["errors"].as_array().unwrap_or_else(|| panic!("{}", rows[2]));
    assert!(errs[0].get("column").is_none_or(Value::is_null), "{}", rows[2]);
    assert!(errs[0]["message"].as_str().unwrap().contains("cells"), "{}", rows[2]);
    assert!(rows[2].get("score").is_none());
    // the CSV rows score as the same values sent as JSON
    let json_rows = ai4i_rows(3000..3003, None);
    let as_json = score_ok(&app, id, &json!({"rows": json_rows})).await;
    for (csv_row, json_row) in [(0, 0), (1, 1), (3, 2)] {
        assert_eq!(rows[csv_row]["row"], csv_row);
        assert_eq!(rows[csv_row]["score"], as_json["rows"][json_row]["score"], "{out} vs {as_json}");
        assert_eq!(rows[csv_row]["verdict"], as_json["rows"][json_row]["verdict"]);
    }
    // a CSV column the dataset does not have fails each row on that column; empty cells of a
    // column without missing values too
    let body = format!("{},Colour\n{},red\n", lines[0], lines[3001]);
    let out: Value = app.post_body(&path, "text/csv", body, &app.admin).await.json().await.unwrap();
    assert_eq!(out["scored"], 0, "{out}");
    assert_eq!(out["rows"][0]["errors"][0]["column"], "Colour");
    let body = "Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min]\n\
                M,298.1,308.6,1551,,0\n";
    let out: Value = app.post_body(&path, "text/csv", body, &app.admin).await.json().await.unwrap();
    assert_eq!(out["rows"][0]["errors"][0]["column"], TORQUE, "{out}");

    // requests that cannot be read at all: 400, nothing kept
    let before = timeline(&app, id, "limit=500").await.len();
    let p = assert_problem(app.post_body(&path, "application/json", "", &app.admin).await, 400, &[]).await;
    assert!(p["detail"].as_str().unwrap().contains("JSON"), "{p}");
    assert_problem(app.post_body(&path, "application/json", "{\"rows\": [", &app.admin).await, 400, &["line 1"]).await;
    assert_problem(app.post_body(&path, "text/csv", "", &app.admin).await, 400, &[]).await;
    assert_problem(app.post_body(&path, "text/csv", lines[0].clone(), &app.admin).await, 400, &["no rows"]).await;
    assert_problem(app.post_body(&path, "text/csv", "a,a\n1,2\n", &app.admin).await, 400, &["twice"]).await;
    for body in
        [json!({"rows": 5}), json!({"rows": []}), json!([]), json!(5), json!({"rows": [json_rows[0]], "extra": 1})]
    {
        let p = assert_problem(app.post_json(&path, &body).await, 400, &[]).await;
        assert_eq!(p["field"], "rows", "{body}: {p}");
    }
    assert_problem(app.post_body(&path, "text/plain", "hello", &app.admin).await, 415, &["text/plain"]).await;
    assert_eq!(timeline(&app, id, "limit=500").await.len(), before, "refused requests keep nothing");
    // unknown detectors
    assert_problem(app.post_json("/api/v1/detectors/9999/score", &json!([json_rows[0]])).await, 404, &["9999"]).await;
    assert_eq!(app.get_json("/api/v1/detectors/9999").await.0, 404);
    assert_eq!(app.get_json("/api/v1/detectors/9999/scores").await.0, 404);
    assert_eq!(app.get_json("/api/v1/detectors/abc").await.0, 404);
    app.stop().await;
}

async fn roles_decide_who_scores_and_who_creates(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.upload("ai4i-2000", "text/csv", ai4i_head(2000)).await;
    let ds = ds.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let viewer = app.token("viewer").await;
    let mes = app.token("mes").await;
    let engineer = app.token("engineer").await;
    let body = json!({"name": "roles", "dataset_id": ds, "normal": "all", "columns": COLUMNS, "spec": tiny_spec(),
                      "calibration": {"method": "false_alarm_rate", "rate": 0.02}});
    assert_problem(app.post_json_as("/api/v1/detectors", &body, &viewer).await, 403, &["viewer"]).await;
    assert_problem(app.post_json_as("/api/v1/detectors", &body, &mes).await, 403, &["mes"]).await;
    let r = app.client.post(app.url("/api/v1/detectors")).json(&body).send().await.unwrap();
    assert_problem(r, 401, &[]).await;
    let (_, list) = app.get_json("/api/v1/detectors").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "refused creates store nothing");
    let r = app.post_json_as("/api/v1/detectors", &body, &engineer).await;
    assert_eq!(r.status().as_u16(), 202);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    calibrated(&app, created["job"]["id"].as_i64().unwrap()).await;

    let rows = json!({"rows": ai4i_rows(2000..2005, None)});
    let (s, p) = score(&app, id, &rows, &viewer).await;
    assert_eq!(s, 403, "{p}");
    let (s, out) = score(&app, id, &rows, &mes).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["scored"], 5);
    let (s, out) = score(&app, id, &rows, &engineer).await;
    assert_eq!(s, 200, "{out}");
    let r = app.client.post(app.url(&format!("/api/v1/detectors/{id}/score"))).json(&rows).send().await.unwrap();
    assert_problem(r, 401, &[]).await;
    // the MES may not recalibrate, a viewer may read
    let r = app.post_json_as(&format!("/api/v1/detectors/{id}/calibrate"), &json!({}), &mes).await;
    assert_problem(r, 403, &["mes"]).await;
    for path in
        [format!("/api/v1/detectors/{id}"), format!("/api/v1/detectors/{id}/scores"), "/api/v1/detectors".into()]
    {
        let r = app.client.get(app.url(&path)).bearer_auth(&viewer).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let items = timeline(&app, id, "").await;
    assert_eq!(items.len(), 10, "the viewer's refused request kept nothing");
    let (_, versions) = app.get_json(&format!("/api/v1/detectors/{id}/versions")).await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 1);
    // a detector that answers before storing: the same verdicts, the rows arrive just after
    let mut fast = body.clone();
    fast["name"] = json!("roles-fast");
    fast["persist"] = json!("after_answer");
    let r = app.post_json_as("/api/v1/detectors", &fast, &engineer).await;
    assert_eq!(r.status().as_u16(), 202);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["persist"], "after_answer");
    let fast_id = created["id"].as_i64().unwrap();
    calibrated(&app, created["job"]["id"].as_i64().unwrap()).await;
    let (s, out) = score(&app, fast_id, &rows, &mes).await;
    assert_eq!((s, out["scored"].as_i64()), (200, Some(5)), "{out}");
    app.wait_until(&format!("/api/v1/detectors/{fast_id}/scores"), 10, |p| p["items"].as_array().unwrap().len() == 5)
        .await;
    app.stop().await;
}

/// Why a refused request's answer is not the expected 400 problem naming `field` (if given)
/// with `needle` in its detail; `None` when it is.
fn mismatch(body: &Value, status: u16, ct: &str, p: &Value, field: Option<&str>, needle: &str) -> Option<String> {
    let detail = p["detail"].as_str().unwrap_or("");
    let field_ok = field.is_none_or(|f| p["field"] == f);
    if status == 400 && ct.starts_with("application/problem+json") && detail.contains(needle) && field_ok {
        return None;
    }
    Some(format!("{body} gave {status} {p}; expected 400 with field {field:?} and {needle:?} in the detail"))
}

async fn bad_detectors_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ds = app.upload("ai4i-500", "text/csv", ai4i_head(500)).await;
    let ds = ds.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let good = json!({"name": "good", "dataset_id": ds, "normal": {"label": "Machine failure", "value": 0},
                      "columns": COLUMNS, "spec": tiny_spec(), "calibration": {"method": "max_f1"}});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    // a model that is not trained (no worker here: it stays queued)
    let r = app.post_json("/api/v1/models", &json!({"dataset_id": ds, "spec": tiny_spec()})).await;
    assert_eq!(r.status().as_u16(), 202);
    let untrained = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let mut with_model = without("spec");
    with_model["model_id"] = json!(untrained);
    let mut unknown_model = without("spec");
    unknown_model["model_id"] = json!(4242);
    let cases = [
        (without("name"), "name", "name"),
        (with("name", json!("  ")), "name", "name"),
        (without("dataset_id"), "dataset_id", "dataset"),
        (with("dataset_id", json!(999)), "dataset_id", "999"),
        (with("version", json!(7)), "version", "7"),
        (with("retention_days", json!(0)), "retention_days", "retention_days"),
        (with("persist", json!("later")), "persist", "after_answer"),
        (with("normal", json!({"label": "Colour", "value": 0})), "normal.label", "Colour"),
        (with("normal", json!({"label": "Machine failure", "value": null})), "normal.value", "null"),
        (with("normal", json!("some")), "normal", "all"),
        (with("columns", json!([TORQUE, "Colour"])), "columns[1]", "Colour"),
        (with("columns", json!([TORQUE, "Machine failure"])), "columns[1]", "label"),
        (with("columns", json!([TORQUE, SPEED, TORQUE])), "columns[2]", "twice"),
        (with("columns", json!(["Product ID", TORQUE])), "columns[0]", "Product ID"),
        (with("columns", json!([])), "columns", "at least one"),
        (with("calibration", json!({"method": "false_alarm_rate", "rate": 1.5})), "calibration.rate", "1.5"),
        (with("calibration", json!({"method": "false_alarm_rate", "rate": 0})), "calibration.rate", "between"),
        (with("calibration", json!({"method": "recall", "target": 0})), "calibration.target", "(0, 1]"),
        (with("calibration", json!({"method": "guess"})), "calibration", "guess"),
        (without("calibration"), "calibration", "calibration"),
        (with("normal", json!("all")), "calibration.method", "labelled faults"),
        (with("holdout", json!(0.99)), "holdout", "0.99"),
        (with("holdout", json!(0.0)), "holdout", "between"),
        (with("score", json!({"method": "neg_elbo", "samples": 0})), "score.samples", "samples"),
        (with("score", json!({"method": "importance_weighted", "samples": 1000})), "score.samples", "1000"),
        (with("score", json!({"method": "magic"})), "score", "magic"),
        (with("model_id", json!(untrained)), "spec", "not both"),
        (with_model, "model_id", "not trained"),
        (unknown_model, "model_id", "4242"),
        (with("spec", json!({"latent": 0})), "spec", "latent"),
    ];
    // every case is tried; the mismatches are reported together at the end
    let mut wrong: Vec<String> = vec![];
    for (body, field, needle) in cases {
        let r = app.post_json("/api/v1/detectors", &body).await;
        let (status, ct) = (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap_or("").to_string());
        wrong.extend(mismatch(&body, status, &ct, &r.json().await.unwrap_or(Value::Null), Some(field), needle));
    }
    // unknown names in the body or in the VAE spec are refused by name
    for (body, needle) in [(with("colour", json!("red")), "colour"), (with("spec", json!({"latnet": 2})), "latnet")] {
        let r = app.post_json("/api/v1/detectors", &body).await;
        let (status, ct) = (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap_or("").to_string());
        let p: Value = r.json().await.unwrap_or(Value::Null);
        wrong.extend(mismatch(&body, status, &ct, &p, None, needle));
        let fine = if needle == "colour" { p["field"] != "spec" } else { p["field"] == "spec.latnet" };
        if !fine {
            wrong.push(format!("{body}: the field of {p} is misleading"));
        }
    }
    let r = app
        .client
        .post(app.url("/api/v1/detectors"))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, &["line 1"]).await;
    let (_, list) = app.get_json("/api/v1/detectors").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing stored: {list}; {wrong:#?}");

    // the good one: queued (no worker), not yet able to score; its name is taken
    let (id, job) = create(&app, &good).await;
    let r = app.post_json("/api/v1/detectors", &with("columns", json!([TORQUE]))).await;
    assert_problem(r, 409, &["good"]).await;
    let (_, list) = app.get_json("/api/v1/detectors").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["name"], "good");
    let (_, jobs) = app.get_json("/api/v1/jobs").await;
    let calibrations: Vec<&Value> =
        jobs["items"].as_array().unwrap().iter().filter(|j| j["kind"] == "calibrate").collect();
    assert_eq!(calibrations.len(), 1, "{jobs}");
    assert_eq!(calibrations[0]["id"], job);
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(d["status"], "calibrating", "{d}");
    assert!(d["version"].is_null());
    assert!(d["current_version"].is_null());
    let (s, p) = score(&app, id, &json!([ai4i_rows(0..1, None)[0]]), &app.admin).await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("not calibrated"), "{p}");
    let (_, versions) = app.get_json(&format!("/api/v1/detectors/{id}/versions")).await;
    assert_eq!(versions["items"], json!([]));
    assert_eq!(app.get_json(&format!("/api/v1/detectors/{id}/versions/1")).await.0, 404);
    let (s, p) = app.get_json(&format!("/api/v1/detectors/{id}/versions/first")).await;
    assert_eq!(s, 400);
    assert_eq!(p["field"], "version");
    // a detector's dataset is kept
    let r = app.client.delete(app.url(&format!("/api/v1/datasets/{ds}"))).bearer_auth(&app.admin).send().await.unwrap();
    assert!(r.status().is_client_error(), "deleting a dataset a detector uses: {}", r.status());
    app.stop().await;
    assert!(wrong.is_empty(), "{} bad detector(s) not refused as they should be:\n{}", wrong.len(), wrong.join("\n"));
}

async fn recalibration_makes_a_new_version_and_drift_is_measured(backend: Backend) {
    let app = spawn_worker_app(backend).await;
    let ds = app.upload("ai4i-3000", "text/csv", ai4i_head(3000)).await;
    let ds = ds.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    // every row normal: only a false-alarm rate can be calibrated, and there are no curves
    let (id, job) = create(
        &app,
        &json!({"name": "drift", "dataset_id": ds, "normal": "all", "columns": COLUMNS, "spec": tiny_spec(),
                "calibration": {"method": "false_alarm_rate", "rate": 0.05},
                "score": {"method": "importance_weighted", "samples": 4, "seed": 9}, "retention_days": 30}),
    )
    .await;
    calibrated(&app, job).await;
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(d["retention_days"], 30);
    let v1 = d["version"].clone();
    assert_eq!(method(&v1), "false_alarm_rate", "{v1}");
    assert!(f(&v1["false_alarm_rate"]) <= 0.05 + 1e-9, "{v1}");
    assert!(v1["auroc"].is_null(), "no faults, no AUROC: {v1}");
    let rows = &v1["summary"]["rows"];
    assert_eq!(rows["train"].as_i64().unwrap() + rows["holdout"].as_i64().unwrap(), 3000, "{v1}");
    assert_eq!(rows["faults"], 0);

    // fewer than 20 rows: no drift figure; from 20 on there is one per numeric column
    let batch1 = ai4i_rows(3000..3010, None);
    let out = score_ok(&app, id, &json!({"rows": batch1})).await;
    assert_eq!(out["version"], 1);
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(d["drift"]["rows"], 10);
    assert!(d["drift"]["score"].is_null(), "{d}");
    let mut batch2 = ai4i_rows(3010..3030, None);
    batch2.push(json!({"Type": "M"}));
    let out = score_ok(&app, id, &json!({"rows": batch2})).await;
    assert_eq!(out["scored"], 20);
    assert_eq!(out["errors"], 1);
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    let drift = &d["drift"];
    assert_eq!(drift["rows"], 30, "{drift}");
    assert!(f(&drift["score"]["psi"]).is_finite() && f(&drift["score"]["ks"]).is_finite(), "{drift}");
    let cols = drift["columns"].as_array().unwrap();
    let mut names: Vec<&str> = cols.iter().map(|c| c["column"].as_str().unwrap()).collect();
    names.sort();
    let mut numeric: Vec<&str> = COLUMNS[1..].to_vec();
    numeric.sort();
    assert_eq!(names, numeric, "numeric columns only: {drift}");
    let psis: Vec<f64> = cols.iter().map(|c| f(&c["psi"])).collect();
    assert!(psis.windows(2).all(|w| w[0] >= w[1]), "largest drift first: {psis:?}");
    let (v1_ok, v1_anomalies) = (
        d["last_24h"]["scored"].as_i64().unwrap() - d["last_24h"]["anomalies"].as_i64().unwrap(),
        d["last_24h"]["anomalies"].as_i64().unwrap(),
    );
    assert_eq!(v1_ok + v1_anomalies, 30);

    // /metrics: rows by verdict and the drift gauges
    let (s, text) = app.get_text("/metrics").await;
    assert_eq!(s, 200);
    let det = format!("detector=\"{id}\"");
    let count = |verdict: &str| metric(&text, "genfab_detector_rows_total", &[&det, &format!("verdict=\"{verdict}\"")]);
    assert_eq!(count("error"), vec![1.0], "{text}");
    assert_eq!(count("ok").iter().chain(&count("anomaly")).sum::<f64>(), 30.0, "{text}");
    assert_eq!(count("anomaly").iter().sum::<f64>(), v1_anomalies as f64);
    let psi = metric(&text, "genfab_detector_drift", &[&det, "column=\"_score\"", "statistic=\"psi\""]);
    assert_eq!(psi.len(), 1, "{text}");
    let torque_ks = metric(&text, "genfab_detector_drift", &[&det, "column=\"Torque [Nm]\"", "statistic=\"ks\""]);
    assert_eq!(torque_ks.len(), 1, "{text}");

    // new data, then a recalibration makes version 2 on it; version 1 stays readable
    let lines = ai4i_lines();
    let more = format!("{}\n{}\n", lines[0], lines[3001..=3500].join("\n"));
    let r = app.append_rows(ds, "text/csv", more, &app.admin).await;
    assert_eq!(r.status().as_u16(), 201);
    let calibrate = format!("/api/v1/detectors/{id}/calibrate");
    let p = assert_problem(app.post_json(&calibrate, &json!({"dataset_version": 9})).await, 400, &["9"]).await;
    assert_eq!(p["field"], "dataset_version");
    assert_problem(app.post_json(&calibrate, &json!({"colour": 1})).await, 400, &["colour"]).await;
    assert_problem(app.post_json("/api/v1/detectors/9999/calibrate", &json!({})).await, 404, &[]).await;
    let r = app.post_body(&calibrate, "application/json", "", &app.admin).await;
    assert_eq!(r.status().as_u16(), 202);
    let queued: Value = r.json().await.unwrap();
    assert_eq!(queued["detector_id"], id);
    let job = queued["job"]["id"].as_i64().unwrap();
    let j = calibrated(&app, job).await;
    assert_eq!(j["result"]["version"], 2, "{j}");
    assert_eq!(j["result"]["dataset_version"], 2);

    let (_, versions) = app.get_json(&format!("/api/v1/detectors/{id}/versions")).await;
    let items = versions["items"].as_array().unwrap();
    let numbers: Vec<i64> = items.iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, vec![2, 1], "{versions}");
    assert_eq!(items[0]["dataset_version"], 2);
    assert_eq!(items[0]["job_id"], job);
    assert_eq!(items[1]["dataset_version"], 1);
    let rows2 = &items[0]["summary"]["rows"];
    assert_eq!(rows2["train"].as_i64().unwrap() + rows2["holdout"].as_i64().unwrap(), 3500, "{}", items[0]);
    let (s, old) = app.get_json(&format!("/api/v1/detectors/{id}/versions/1")).await;
    assert_eq!(s, 200);
    assert_eq!(old["version"], 1);
    assert_eq!(old["threshold"], v1["threshold"]);
    assert_eq!(app.get_json(&format!("/api/v1/detectors/{id}/versions/3")).await.0, 404);
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(d["current_version"], 2);
    assert_eq!(d["version"]["version"], 2);
    assert_eq!(d["drift"]["rows"], 0, "drift is of the current version's rows: {d}");
    let threshold2 = f(&d["version"]["threshold"]);

    // scoring now answers with version 2; rows from across the data (AI4I is a time series:
    // neighbouring rows share air temperature and tool wear) with torque 25 Nm too high drift
    // on torque
    let mut shifted = ai4i_rows((0..25).map(|k| 70 + 140 * k), None);
    for r in &mut shifted {
        r[TORQUE] = json!(f(&r[TORQUE]) + 25.0);
    }
    let out = score_ok(&app, id, &json!({"rows": shifted})).await;
    assert_eq!(out["version"], 2);
    assert_eq!(f(&out["threshold"]), threshold2);
    assert!(out["rows"].as_array().unwrap().iter().all(|r| r["version"] == 2));
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    let drift = &d["drift"];
    assert_eq!(drift["rows"], 25, "{drift}");
    assert_eq!(drift["columns"][0]["column"], TORQUE, "the shifted column drifts most: {drift}");
    assert!(f(&drift["columns"][0]["ks"]) > 0.5, "{drift}");
    assert_eq!(d["last_24h"]["scored"], 55);
    // the timeline by version
    let old_rows = timeline(&app, id, "version=1").await;
    assert_eq!(old_rows.len(), 30);
    assert!(old_rows.iter().all(|r| r["version"] == 1));
    let new_rows = timeline(&app, id, "version=2").await;
    assert_eq!(new_rows.len(), 25);
    assert!(new_rows.iter().all(|r| r["version"] == 2));
    assert_eq!(timeline(&app, id, "").await.len(), 55);
    let (_, text) = app.get_text("/metrics").await;
    let total: f64 = ["ok", "anomaly"]
        .iter()
        .flat_map(|v| metric(&text, "genfab_detector_rows_total", &[&det, &format!("verdict=\"{v}\"")]))
        .sum();
    assert_eq!(total, 55.0, "{text}");
    let torque_psi = metric(&text, "genfab_detector_drift", &[&det, "column=\"Torque [Nm]\"", "statistic=\"psi\""]);
    assert_eq!(torque_psi.len(), 1);
    assert_eq!(torque_psi[0], f(&drift["columns"][0]["psi"]), "{text}");
    // retention (30 days here): the worker's purge keeps rows younger than that, deletes older
    let store = app.store().await;
    let now = chrono::Utc::now();
    assert_eq!(store.purge_scores(now + chrono::Duration::days(29)).await.unwrap(), 0);
    assert_eq!(timeline(&app, id, "").await.len(), 55);
    assert_eq!(store.purge_scores(now + chrono::Duration::days(31)).await.unwrap(), 55);
    assert!(timeline(&app, id, "").await.is_empty());
    let (_, d) = app.get_json(&format!("/api/v1/detectors/{id}")).await;
    assert_eq!(
        (d["last_24h"]["scored"].as_i64(), d["version"]["version"].as_i64()),
        (Some(0), Some(2)),
        "versions stay"
    );
    app.stop().await;
}

on_both_stores!(
    detector_learns_normal_rows_and_scores_with_reasons,
    csv_bodies_and_unreadable_requests,
    roles_decide_who_scores_and_who_creates,
    bad_detectors_are_refused_and_store_nothing,
    recalibration_makes_a_new_version_and_drift_is_measured
);
