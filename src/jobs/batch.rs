//! `genfab batch run SCHEDULE`: one slot of a schedule now, its jobs run in this process.

use super::{execute, worker_name, WorkerConfig};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Fires the schedule's template and (unless `no_wait`) runs its jobs here until each has
/// ended; jobs another worker picks up are waited for. True when all succeeded.
pub async fn run(store: &Store, schedule: &str, no_wait: bool, cfg: &WorkerConfig) -> anyhow::Result<bool> {
    let s = match schedule.parse::<i64>() {
        Ok(id) => store.get_schedule(id).await?,
        Err(_) => store.get_schedule_by_name(schedule).await?,
    }
    .ok_or_else(|| anyhow::anyhow!("no schedule has the id or name '{schedule}'"))?;
    let ids = super::scheduler::fire_now(store, &s).await?;
    eprintln!("schedule {} ('{}') queued jobs {ids:?}", s.id, s.name);
    if no_wait {
        println!("{}", serde_json::json!({ "schedule_id": s.id, "job_ids": ids }));
        return Ok(true);
    }
    let owner = worker_name();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    loop {
        store.sweep_expired().await?;
        if let Some(job) = store.claim_job(&owner, cfg.lease_chrono(), Some(&ids)).await? {
            execute(store.clone(), job, cfg.clone(), stop.clone()).await;
            continue;
        }
        let mut pending = 0;
        for id in &ids {
            let j = store.get_job(*id).await?.ok_or_else(|| anyhow::anyhow!("job {id} vanished"))?;
            if matches!(j.status.as_str(), "queued" | "running") {
                pending += 1;
            }
        }
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut all_ok = true;
    for id in &ids {
        let j = store.get_job(*id).await?.ok_or_else(|| anyhow::anyhow!("job {id} vanished"))?;
        all_ok &= j.status == "succeeded";
        println!(
            "{}",
            serde_json::json!({ "job_id": j.id, "kind": j.kind, "status": j.status, "error": j.last_error, "result": j.result })
        );
    }
    Ok(all_ok)
}
