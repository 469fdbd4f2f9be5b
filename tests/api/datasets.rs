use crate::helpers::{data_file, spawn_app, Backend};
use crate::on_both_stores;
use serde_json::Value;

fn column<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["schema"]["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {d}"))
}

async fn real_files_upload_with_their_quirks(b: Backend) {
    let app = spawn_app(b).await;
    // UTF-8 BOM, a categorical column and an id column.
    let r = app.upload("ai4i", "text/csv", data_file("ai4i2020/ai4i2020.csv")).await;
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["row_count"], 10000);
    assert_eq!(d["schema"]["columns"][0]["name"], "UDI", "BOM must not leak into the first name");
    assert_eq!(column(&d, "UDI")["role"], "id");
    assert_eq!(column(&d, "Type")["kind"], "categorical");
    assert_eq!(column(&d, "Type")["levels"], serde_json::json!(["H", "L", "M"]));
    assert_eq!(column(&d, "Product ID")["kind"], "text");
    assert_eq!(column(&d, "Machine failure")["kind"], "boolean");
    assert_eq!(column(&d, "Machine failure")["role"], "label");
    assert_eq!(column(&d, "Torque [Nm]")["kind"], "continuous");
    assert_eq!(column(&d, "Torque [Nm]")["stats"]["count"], 10000);
    assert_eq!(d["version"]["sha256"].as_str().unwrap().len(), 64);

    // No header row.
    let r = app.upload("barrel", "text/csv", data_file("crossed-barrel/data.csv")).await;
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["row_count"], 600);
    assert_eq!(d["schema"]["columns"].as_array().unwrap().len(), 5);
    assert_eq!(d["schema"]["columns"][0]["name"], "column_1");

    // Space-separated with trailing spaces, no header.
    let r = app.upload("cmapss", "text/plain", data_file("cmapss-fd001/train_FD001.txt")).await;
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["row_count"], 20631);
    assert_eq!(d["schema"]["columns"].as_array().unwrap().len(), 26);

    // Missing values (empty fields), unnamed first column.
    let r = app.upload("secom", "text/csv", data_file("secom/secom_raw_subset_392rows.csv")).await;
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["row_count"], 392);
    let missing: u64 = d["schema"]["columns"].as_array().unwrap().iter().map(|c| c["missing"].as_u64().unwrap()).sum();
    assert!(missing > 1000, "SECOM's empty fields are missing values, got {missing}");
    assert_eq!(d["schema"]["columns"][0]["name"], "column_1");

    // Tab-separated with CRLF line ends.
    let r = app.upload("airfoil", "text/csv", data_file("airfoil-self-noise/airfoil_self_noise.dat")).await;
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["row_count"], 1503);
    assert_eq!(column(&d, "Soundpressure")["kind"], "continuous");
}

async fn export_round_trips_in_every_format(b: Backend) {
    let app = spawn_app(b).await;
    let csv = "part,thickness,grade,ok\np1,1.25,A,true\np2,,B,false\np3,0.75,A,true\n";
    let r = app.upload("parts", "text/csv", csv).await;
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    let (s, text) = app.get_text(&format!("/api/v1/datasets/{id}/rows?format=csv")).await;
    assert_eq!(s, 200);
    assert_eq!(text, csv);

    let (s, rows) = app.get_json(&format!("/api/v1/datasets/{id}/rows?format=json")).await;
    assert_eq!(s, 200);
    assert_eq!(rows[1]["thickness"], Value::Null);
    assert_eq!(rows[2]["thickness"], 0.75);
    assert_eq!(rows[0]["ok"], true);

    let pq = app
        .client
        .get(app.url(&format!("/api/v1/datasets/{id}/rows?format=parquet")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(pq.headers()["content-type"], "application/vnd.apache.parquet");
    let bytes = pq.bytes().await.unwrap();
    // The Parquet export uploads again to the same table.
    let r = app.upload("parts-again", "application/vnd.apache.parquet", bytes).await;
    assert_eq!(r.status().as_u16(), 201);
    let id2 = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (_, text2) = app.get_text(&format!("/api/v1/datasets/{id2}/rows?format=csv")).await;
    assert_eq!(text2, csv);

    // JSON rows upload.
    let r = app
        .upload("json-parts", "application/json", r#"[{"a": 1.5, "b": "x"}, {"a": 2, "b": null}, {"b": "y"}]"#)
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["row_count"], 3);
    assert_eq!(column(&d, "a")["missing"], 1);

    // Multipart with a schema part.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(b"code,x\n1,0.5\n2,0.7\n1,0.9\n".to_vec()).file_name("parts.csv"))
        .text("schema", r#"{"columns": {"code": {"kind": "categorical", "role": "label"}}}"#);
    let r = app
        .client
        .post(app.url("/api/v1/datasets?name=multi"))
        .bearer_auth(&app.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(column(&d, "code")["kind"], "categorical");
    assert_eq!(column(&d, "code")["role"], "label");
}

async fn appends_make_versions_and_retries_are_no_ops(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.upload("line3", "text/csv", "t,force\n1.0,10\n1.1,12\n").await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let mes = app.token("mes").await;
    let append = |body: &'static str, key: Option<&'static str>| {
        let mut rq = app
            .client
            .post(app.url(&format!("/api/v1/datasets/{id}/rows")))
            .bearer_auth(&mes)
            .header("content-type", "text/csv")
            .body(body);
        if let Some(k) = key {
            rq = rq.header("Idempotency-Key", k);
        }
        rq.send()
    };
    let r = append("force,t\n11,1.2\n", Some("batch-1")).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["version"]["version"], 2);
    assert_eq!(first["version"]["row_count"], 3);

    // The retry answers the same and stores nothing new.
    let r = append("force,t\n11,1.2\n", Some("batch-1")).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(r.json::<Value>().await.unwrap(), first);
    let (_, d) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(d["latest_version"], 2);

    // Same key, other body: 422, nothing stored.
    let r = append("force,t\n99,9.9\n", Some("batch-1")).await.unwrap();
    crate::helpers::assert_problem(r, 422, &["Idempotency-Key"]).await;

    let r = append("force,t\n13,1.3\n", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, d) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(d["latest_version"], 3);
    assert_eq!(d["row_count"], 4);
    assert_eq!(d["versions"].as_array().unwrap().len(), 3);
    assert_eq!(column(&d, "force")["stats"]["max"], 13.0);
    assert_eq!(column(&d, "force")["min"], 10.0);

    // Old versions stay readable as they were.
    let (_, v1) = app.get_text(&format!("/api/v1/datasets/{id}/rows?version=1")).await;
    assert_eq!(v1, "t,force\n1.0,10\n1.1,12\n");
    let (_, v3) = app.get_text(&format!("/api/v1/datasets/{id}/rows")).await;
    assert_eq!(v3, "t,force\n1.0,10\n1.1,12\n1.2,11\n1.3,13\n");
    let (s, _) = app.get_json(&format!("/api/v1/datasets/{id}/rows?version=9")).await;
    assert_eq!(s, 404);
}

async fn schema_patch_makes_a_new_version(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.upload("codes", "text/csv", "code,x\n1,0.5\n2,0.7\n1,0.9\n").await;
    let d: Value = r.json().await.unwrap();
    let id = d["id"].as_i64().unwrap();
    assert_eq!(column(&d, "code")["kind"], "integer");
    let patch = |body: &'static str| {
        app.client
            .patch(app.url(&format!("/api/v1/datasets/{id}/schema")))
            .bearer_auth(&app.admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = patch(r#"{"columns": {"code": {"kind": "categorical", "role": "label"}, "x": {"min": 0, "max": 1}}}"#)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["latest_version"], 2);
    assert_eq!(column(&d, "code")["kind"], "categorical");
    assert_eq!(column(&d, "code")["levels"], serde_json::json!(["1", "2"]));
    assert_eq!(column(&d, "x")["declared_max"], 1.0);

    // Appends now follow the new schema: a value over the declared max is refused.
    let r = app.append_rows(id, "text/csv", "code,x\n2,0.2\n3,1.5\n", &app.admin).await;
    let p = crate::helpers::assert_problem(r, 400, &["row 2", "'x'", "declared maximum"]).await;
    assert_eq!(p["row"], 2);
    assert_eq!(p["column"], "x");

    let r = patch(r#"{"columns": {"nope": {"kind": "integer"}}}"#).await.unwrap();
    crate::helpers::assert_problem(r, 400, &["'nope'"]).await;
    let r = patch(r#"{"columns": {"x": {"kind": "integer"}}}"#).await.unwrap();
    crate::helpers::assert_problem(r, 400, &["row 1", "not a whole number"]).await;
    let r = patch(r#"{"columns": {"x": {"colour": "red"}}}"#).await.unwrap();
    crate::helpers::assert_problem(r, 400, &["colour"]).await;
    let (_, d) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(d["latest_version"], 2, "refused changes store nothing");
}

async fn listing_pages_with_a_cursor(b: Backend) {
    let app = spawn_app(b).await;
    for n in ["a", "b", "c"] {
        assert_eq!(app.upload(n, "text/csv", "x\n1\n2\n").await.status().as_u16(), 201);
    }
    let (s, p1) = app.get_json("/api/v1/datasets?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().expect("more pages").to_string();
    let (_, p2) = app.get_json(&format!("/api/v1/datasets?limit=2&cursor={cursor}")).await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert_eq!(p2["items"][0]["name"], "c");
    assert_eq!(p2["next_cursor"], Value::Null);
    let (s, p) = app.get_json("/api/v1/datasets?cursor=garbage").await;
    assert_eq!(s, 400);
    assert_eq!(p["field"], "cursor");
    let (s, _) = app.get_json("/api/v1/datasets?limit=0").await;
    assert_eq!(s, 400);
}

async fn delete_is_refused_while_a_job_uses_the_dataset(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.upload("used", "text/csv", "x\n1\n2\n").await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let store = genfab::store::Store::connect(&app.settings.database).await.unwrap();
    let job = store.enqueue_job("train", &serde_json::json!({"dataset_id": id}), Some(id)).await.unwrap();
    let del = || app.client.delete(app.url(&format!("/api/v1/datasets/{id}"))).bearer_auth(&app.admin).send();
    let r = del().await.unwrap();
    crate::helpers::assert_problem(r, 409, &[&format!("[{job}]")]).await;
    let (s, _) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(s, 200);
    // Once the job is cancelled, the dataset can go.
    assert!(store.cancel_job(job).await.unwrap());
    assert_eq!(del().await.unwrap().status().as_u16(), 204);
    let (s, _) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(s, 404);
    assert_eq!(del().await.unwrap().status().as_u16(), 404);
}

on_both_stores!(
    real_files_upload_with_their_quirks,
    export_round_trips_in_every_format,
    appends_make_versions_and_retries_are_no_ops,
    schema_patch_makes_a_new_version,
    listing_pages_with_a_cursor,
    delete_is_refused_while_a_job_uses_the_dataset,
);
