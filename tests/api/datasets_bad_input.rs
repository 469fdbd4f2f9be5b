//! Every refusal is problem+json naming what is wrong and where, and leaves stored data as it was.

use crate::helpers::{assert_problem, spawn_app, spawn_with, test_settings, Backend, TestApp};
use crate::on_both_stores;
use serde_json::Value;

/// A dataset that must survive every refused request unchanged.
async fn witness(app: &TestApp) -> (i64, String) {
    let r = app.upload("witness", "text/csv", "a,b\n1,2\n3,4\n").await;
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (_, d) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    (id, d.to_string())
}

async fn assert_unchanged(app: &TestApp, id: i64, before: &str) {
    let (_, d) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(d.to_string(), before, "a refused request changed stored data");
    let (_, list) = app.get_json("/api/v1/datasets").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "a refused upload left a dataset behind");
}

async fn bad_uploads_are_refused_with_their_place(b: Backend) {
    let app = spawn_app(b).await;
    let (id, before) = witness(&app).await;
    // (name, content type, body, status, words the detail must hold, row, column)
    type Case<'a> = (&'a str, &'a str, &'a [u8], u16, Vec<&'a str>, Option<u64>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("empty", "text/csv", b"", 400, vec!["empty"], None, None),
        ("header-only", "text/csv", b"a,b,c\n", 400, vec!["no data rows"], None, None),
        (
            "ragged",
            "text/csv",
            b"a,b,c\n1,2,3\n4,5\n6,7,8\n",
            400,
            vec!["row 2", "2 fields", "header has 3"],
            Some(2),
            None,
        ),
        ("too-many-fields", "text/csv", b"a,b\n1,2\n3,4,5\n", 400, vec!["row 2", "3 fields"], Some(2), None),
        (
            "text-in-number",
            "text/csv",
            b"a,b\n1,2\n3,4\n5,six\n7,8\n",
            400,
            vec!["row 3", "'b'", "'six' is not a number"],
            Some(3),
            Some("b"),
        ),
        ("nan", "text/csv", b"a,b\n1,2\n3,NaN\n", 400, vec!["row 2", "'b'", "not a finite number"], Some(2), Some("b")),
        (
            "inf",
            "text/csv",
            b"a,b\n-inf,2\n3,4\n",
            400,
            vec!["row 1", "'a'", "not a finite number"],
            Some(1),
            Some("a"),
        ),
        ("dupe", "text/csv", b"a,b,a\n1,2,3\n", 400, vec!["'a' appears twice", "columns 1 and 3"], None, Some("a")),
        ("not-utf8", "text/csv", b"a,b\n1,\xff\n", 400, vec!["not UTF-8", "line 2"], None, None),
        ("json-not-array", "application/json", br#"{"a": 1}"#, 400, vec!["array of row objects"], None, None),
        (
            "json-nested",
            "application/json",
            br#"[{"a": 1}, {"a": [1, 2]}]"#,
            400,
            vec!["row 2", "'a'", "nested"],
            Some(2),
            Some("a"),
        ),
        ("json-broken", "application/json", br#"[{"a": 1},"#, 400, vec!["not valid JSON"], None, None),
        ("json-empty", "application/json", b"[]", 400, vec!["no rows"], None, None),
        ("parquet-garbage", "application/vnd.apache.parquet", b"PAR1 not really", 400, vec!["Parquet"], None, None),
        ("xml", "application/xml", b"<rows/>", 415, vec!["application/xml", "text/csv"], None, None),
    ];
    for (name, ct, body, status, needles, row, col) in cases {
        let r = app.upload(name, ct, body.to_vec()).await;
        let p = assert_problem(r, status, &needles).await;
        assert_eq!(p["row"].as_u64(), row, "row of case {name}");
        assert_eq!(p["column"].as_str(), col, "column of case {name}");
    }
    // No Content-Type at all.
    let r = app
        .client
        .post(app.url("/api/v1/datasets?name=x"))
        .bearer_auth(&app.admin)
        .body("a\n1\n")
        .send()
        .await
        .unwrap();
    assert_problem(r, 415, &["no Content-Type"]).await;
    // Names.
    let r = app.upload("", "text/csv", "a\n1\n").await;
    let p = assert_problem(r, 400, &["name"]).await;
    assert_eq!(p["field"], "name");
    let r = app.upload("witness", "text/csv", "a\n1\n").await;
    assert_problem(r, 409, &["exists already"]).await;
    // A schema naming a column the table lacks.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(b"a,b\n1,2\n".to_vec()).file_name("t.csv"))
        .text("schema", r#"{"columns": {"thickness": {"kind": "continuous"}}}"#);
    let r = app
        .client
        .post(app.url("/api/v1/datasets?name=s"))
        .bearer_auth(&app.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 400, &["'thickness'", "does not have"]).await;
    assert_eq!(p["column"], "thickness");
    let form = reqwest::multipart::Form::new().text("schema", r#"{"columns": {}}"#);
    let r = app
        .client
        .post(app.url("/api/v1/datasets?name=s"))
        .bearer_auth(&app.admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, &["no 'file' part"]).await;
    assert_unchanged(&app, id, &before).await;
}

async fn limits_answer_413(b: Backend) {
    let (mut settings, dir) = test_settings(b).await;
    settings.limits.max_body_bytes = 2_000;
    settings.limits.max_rows = 50;
    settings.limits.max_columns = 5;
    let app = spawn_with(settings, dir).await;
    let (id, before) = witness(&app).await;
    let big = format!("a\n{}", "1234567\n".repeat(400));
    assert_problem(app.upload("big", "text/csv", big).await, 413, &["limit", "GENFAB_MAX_BODY_BYTES"]).await;
    let rows = format!("a\n{}", "1\n".repeat(51));
    assert_problem(app.upload("rows", "text/csv", rows).await, 413, &["GENFAB_MAX_ROWS"]).await;
    assert_problem(
        app.upload("cols", "text/csv", "a,b,c,d,e,f\n1,2,3,4,5,6\n").await,
        413,
        &["6 columns", "GENFAB_MAX_COLUMNS"],
    )
    .await;
    let json_rows = format!("[{}]", vec![r#"{"a":1}"#; 51].join(","));
    assert_problem(app.upload("jrows", "application/json", json_rows).await, 413, &["GENFAB_MAX_ROWS"]).await;
    // A chunked body with no Content-Length is cut off at the limit too.
    let stream =
        futures_util::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"1,2,3,4\n"))));
    let r = app
        .client
        .post(app.url("/api/v1/datasets?name=chunked"))
        .bearer_auth(&app.admin)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(r, 413, &["limit"]).await;
    assert_unchanged(&app, id, &before).await;
}

async fn bad_appends_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let (id, before) = witness(&app).await;
    let append = |body: &'static str, ct: &'static str| app.append_rows(id, ct, body, &app.admin);
    let r = append("a,c\n1,2\n", "text/csv").await;
    let p = assert_problem(r, 400, &["missing: [\"b\"]", "not in the dataset: [\"c\"]"]).await;
    assert_eq!(p["column"], "b");
    let r = append("a,b\n1,2\n2.5,3\n", "text/csv").await;
    let p = assert_problem(r, 400, &["row 2", "'a'", "not a whole number"]).await;
    assert_eq!(p["row"], 2);
    let r = append("a,b\n1,x\n", "text/csv").await;
    assert_problem(r, 400, &["row 1", "'b'", "'x' is not a number"]).await;
    let r = append("", "text/csv").await;
    assert_problem(r, 400, &["empty"]).await;
    let r = append(r#"[{"a": 1, "b": "NaN"}]"#, "application/json").await;
    assert_problem(r, 400, &["row 1", "'b'"]).await;
    let r = app.append_rows(999999, "text/csv", "a,b\n1,2\n", &app.admin).await;
    assert_problem(r, 404, &["999999"]).await;
    let (s, _) = app.get_json("/api/v1/datasets/abc").await;
    assert_eq!(s, 404);
    assert_unchanged(&app, id, &before).await;
}

on_both_stores!(bad_uploads_are_refused_with_their_place, limits_answer_413, bad_appends_change_nothing);
