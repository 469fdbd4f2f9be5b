//! Starting, stopping, restarting, first start, demo data, readiness.

use crate::helpers::{spawn_app, spawn_with, test_settings, Backend};
use crate::on_both_stores;
use serde_json::Value;

async fn restart_keeps_data(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.upload("kept", "text/csv", crate::helpers::data_file("concrete/Concrete_Data.csv")).await;
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let (_, before) = app.get_text(&format!("/api/v1/datasets/{id}/rows")).await;
    let (_, meta_before) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    let (settings, dir) = app.stop().await;

    let app = spawn_with(settings, dir).await;
    let (s, after) = app.get_text(&format!("/api/v1/datasets/{id}/rows")).await;
    assert_eq!(s, 200);
    assert_eq!(after, before);
    let (_, meta_after) = app.get_json(&format!("/api/v1/datasets/{id}")).await;
    assert_eq!(meta_after, meta_before);
    assert_eq!(meta_after["row_count"], 1030);
}

async fn first_start_writes_a_private_admin_token(b: Backend) {
    let (mut settings, dir) = test_settings(b).await;
    settings.admin_token = None;
    let app = spawn_with(settings.clone(), dir.clone()).await;
    let path = settings.state_dir.join("admin-token");
    let token = std::fs::read_to_string(&path).expect("admin-token written").trim().to_string();
    assert!(token.len() >= 40);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let r = app.client.get(app.url("/api/v1/tokens")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (settings, dir) = app.stop().await;
    // A second start creates no new token.
    std::fs::remove_file(&path).unwrap();
    let app = spawn_with(settings, dir).await;
    assert!(!path.exists());
    let r = app.client.get(app.url("/api/v1/tokens")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["items"].as_array().unwrap().len(), 1);
}

async fn demo_loads_every_bundled_dataset(b: Backend) {
    let (mut settings, dir) = test_settings(b).await;
    settings.demo = true;
    let app = spawn_with(settings, dir).await;
    let (_, list) = app.get_json("/api/v1/datasets?limit=100").await;
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 9, "{names:?}");
    assert!(names.contains(&"steel-plates-faults") && names.contains(&"cmapss-fd001-train"));
    let (settings, dir) = app.stop().await;
    // Demo data is loaded into an empty store only.
    let app = spawn_with(settings, dir).await;
    let (_, list) = app.get_json("/api/v1/datasets?limit=100").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 9);
}

on_both_stores!(restart_keeps_data, first_start_writes_a_private_admin_token, demo_loads_every_bundled_dataset);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_postgres_is_unreachable() {
    use sqlx::Connection;
    let app = spawn_app(Backend::Postgres).await;
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let url = match &app.settings.database {
        genfab::config::DatabaseConfig::Postgres(u) => u.expose().to_string(),
        _ => unreachable!(),
    };
    let name = url.rsplit('/').next().unwrap().to_string();
    let mut admin =
        sqlx::PgConnection::connect(&format!("{}/postgres", crate::helpers::postgres_base())).await.unwrap();
    sqlx::Executor::execute(&mut admin, format!("DROP DATABASE {name} WITH (FORCE)").as_str()).await.unwrap();
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    crate::helpers::assert_problem(r, 503, &[]).await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
