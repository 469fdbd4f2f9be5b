//! Tokens and roles: 401 without a valid token, 403 without the right, admin-only token management.

use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::on_both_stores;
use serde_json::Value;

async fn tokens_and_roles_guard_every_route(b: Backend) {
    let app = spawn_app(b).await;
    // Open endpoints.
    for path in ["/healthz", "/readyz", "/metrics", "/"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    // No token, a malformed header, an unknown token.
    let r = app.client.get(app.url("/api/v1/datasets")).send().await.unwrap();
    assert_problem(r, 401, &["Bearer"]).await;
    let r = app.client.get(app.url("/api/v1/datasets")).header("authorization", "Basic abc").send().await.unwrap();
    assert_problem(r, 401, &["Bearer"]).await;
    let r = app.client.get(app.url("/api/v1/datasets")).bearer_auth("gf_nope").send().await.unwrap();
    assert_problem(r, 401, &["unknown or revoked"]).await;

    let viewer = app.token("viewer").await;
    let engineer = app.token("engineer").await;
    let mes = app.token("mes").await;
    let r = app.upload_with("v", "", "text/csv", "a\n1\n", &viewer).await;
    assert_problem(r, 403, &["viewer"]).await;
    let r = app.upload_with("m", "", "text/csv", "a\n1\n", &mes).await;
    assert_problem(r, 403, &["mes"]).await;
    let r = app.upload_with("e", "", "text/csv", "a\n1\n2\n", &engineer).await;
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = app.client.get(app.url("/api/v1/datasets")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app.append_rows(id, "text/csv", "a\n3\n", &mes).await;
    assert_eq!(r.status().as_u16(), 201);
    let r = app.append_rows(id, "text/csv", "a\n3\n", &viewer).await;
    assert_problem(r, 403, &["viewer"]).await;
    let r = app.client.delete(app.url(&format!("/api/v1/datasets/{id}"))).bearer_auth(&mes).send().await.unwrap();
    assert_problem(r, 403, &[]).await;

    // Token management is admin-only; the secret is never listed.
    let r = app.client.get(app.url("/api/v1/tokens")).bearer_auth(&engineer).send().await.unwrap();
    assert_problem(r, 403, &[]).await;
    let (s, list) = app.get_json("/api/v1/tokens").await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    assert!(!list.to_string().contains(&viewer));
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&app.admin)
        .json(&serde_json::json!({"name": "x", "role": "superuser"}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 400, &["superuser"]).await;
    assert_eq!(p["field"], "role");

    // Revoked tokens stop working at once.
    let viewer_id =
        list["items"].as_array().unwrap().iter().find(|t| t["role"] == "viewer").unwrap()["id"].as_i64().unwrap();
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{viewer_id}")))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app.client.get(app.url("/api/v1/datasets")).bearer_auth(&viewer).send().await.unwrap();
    assert_problem(r, 401, &["revoked"]).await;
    let r = app.client.get(app.url("/api/v1/nothing-here")).bearer_auth(&app.admin).send().await.unwrap();
    assert_problem(r, 404, &[]).await;
}

async fn metrics_count_requests_by_route(b: Backend) {
    let app = spawn_app(b).await;
    for _ in 0..3 {
        app.client.get(app.url("/api/v1/datasets/77")).bearer_auth(&app.admin).send().await.unwrap();
    }
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"genfab_http_requests_total{method="GET",route="/api/v1/datasets/{id}",status="404"} 3"#),
        "{text}"
    );
    assert!(text.contains("genfab_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"genfab_jobs{status="queued"} 0"#));
}

on_both_stores!(tokens_and_roles_guard_every_route, metrics_count_requests_by_route);
