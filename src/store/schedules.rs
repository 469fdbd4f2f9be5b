//! Schedules: cron, time zone and a job template; each slot fires once however many workers run.

use super::jobs::{insert_job, NewJob};
use super::BeginWrite as _;
use super::{dispatch, is_unique_violation, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: i64,
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub template: Json<serde_json::Value>,
    pub paused: bool,
    pub grace_seconds: i64,
    pub next_fire_at: DateTime<Utc>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SCHEDULE_COLUMNS: &str =
    "id, name, cron, timezone, template, paused, grace_seconds, next_fire_at, last_fired_at, created_at, updated_at";

/// A schedule to be created.
#[derive(Clone, Debug)]
pub struct NewSchedule {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub template: serde_json::Value,
    pub grace_seconds: i64,
    pub next_fire_at: DateTime<Utc>,
}

/// One fired slot.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct FireRow {
    pub slot: DateTime<Utc>,
    pub manual: bool,
    pub job_ids: Json<Vec<i64>>,
    pub fired_at: DateTime<Utc>,
}

impl Store {
    /// `None` if the name is taken.
    pub async fn create_schedule(&self, s: &NewSchedule) -> anyhow::Result<Option<ScheduleRow>> {
        let now = Utc::now();
        let q = format!(
            "INSERT INTO schedules (name, cron, timezone, template, paused, grace_seconds, next_fire_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, FALSE, $5, $6, $7, $7) RETURNING {SCHEDULE_COLUMNS}"
        );
        let r = dispatch!(self, p => sqlx::query_as::<_, ScheduleRow>(&q).bind(&s.name).bind(&s.cron).bind(&s.timezone)
            .bind(Json(&s.template)).bind(s.grace_seconds).bind(s.next_fire_at).bind(now).fetch_one(p).await);
        match r {
            Ok(row) => Ok(Some(row)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context("could not store the schedule")),
        }
    }

    pub async fn get_schedule(&self, id: i64) -> anyhow::Result<Option<ScheduleRow>> {
        let q = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = $1");
        dispatch!(self, p => sqlx::query_as::<_, ScheduleRow>(&q).bind(id).fetch_optional(p).await)
            .context("could not read the schedule")
    }

    pub async fn get_schedule_by_name(&self, name: &str) -> anyhow::Result<Option<ScheduleRow>> {
        let q = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = $1");
        dispatch!(self, p => sqlx::query_as::<_, ScheduleRow>(&q).bind(name).fetch_optional(p).await)
            .context("could not read the schedule")
    }

    pub async fn list_schedules(&self, after: i64, limit: i64) -> anyhow::Result<Vec<ScheduleRow>> {
        let q = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id > $1 ORDER BY id LIMIT $2");
        dispatch!(self, p => sqlx::query_as::<_, ScheduleRow>(&q).bind(after).bind(limit).fetch_all(p).await)
            .context("could not list schedules")
    }

    /// Pauses or resumes; resuming sets the next slot (slots while paused are not made up).
    pub async fn set_schedule_paused(
        &self,
        id: i64,
        paused: bool,
        next_fire_at: DateTime<Utc>,
    ) -> anyhow::Result<Option<ScheduleRow>> {
        let now = Utc::now();
        let q = format!(
            "UPDATE schedules SET paused = $1, next_fire_at = CASE WHEN $1 THEN next_fire_at ELSE $2 END, updated_at = $3 \
             WHERE id = $4 RETURNING {SCHEDULE_COLUMNS}"
        );
        dispatch!(self, p => sqlx::query_as::<_, ScheduleRow>(&q).bind(paused).bind(next_fire_at).bind(now).bind(id).fetch_optional(p).await)
            .context("could not change the schedule")
    }

    pub async fn delete_schedule(&self, id: i64) -> anyhow::Result<bool> {
        let r = dispatch!(self, p => sqlx::query("DELETE FROM schedules WHERE id = $1").bind(id).execute(p).await.map(|r| r.rows_affected()))
            .context("could not delete the schedule")?;
        Ok(r > 0)
    }

    /// Unpaused schedules whose next slot has come.
    pub async fn due_schedules(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<ScheduleRow>> {
        let q = format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE NOT paused AND next_fire_at <= $1 ORDER BY id");
        dispatch!(self, p => sqlx::query_as::<_, ScheduleRow>(&q).bind(now).fetch_all(p).await)
            .context("could not read due schedules")
    }

    /// The slots a schedule fired, newest first.
    pub async fn schedule_fires(&self, id: i64, limit: i64) -> anyhow::Result<Vec<FireRow>> {
        let q = "SELECT slot, manual, job_ids, fired_at FROM schedule_fires WHERE schedule_id = $1 ORDER BY slot DESC LIMIT $2";
        dispatch!(self, p => sqlx::query_as::<_, FireRow>(q).bind(id).bind(limit).fetch_all(p).await)
            .context("could not read the schedule's slots")
    }

    /// Fires one slot: queues `jobs` as a chain (each waits for the one before) and records the
    /// slot, in one transaction. A scheduled slot also moves `next_fire_at` from `expected` to
    /// `next`; `None` when another worker fired it first. `jobs` empty skips a missed slot.
    pub async fn fire_schedule(
        &self,
        schedule_id: i64,
        slot: DateTime<Utc>,
        expected: Option<DateTime<Utc>>,
        next: DateTime<Utc>,
        jobs: &[NewJob],
    ) -> anyhow::Result<Option<Vec<i64>>> {
        let now = Utc::now();
        let manual = expected.is_none();
        let r: Result<Option<Vec<i64>>, sqlx::Error> = dispatch!(self, p => async {
            let mut tx = p.begin_write().await?;
            if let Some(old) = expected {
                let moved = sqlx::query("UPDATE schedules SET next_fire_at = $1, updated_at = $2 WHERE id = $3 AND next_fire_at = $4 AND NOT paused")
                    .bind(next).bind(now).bind(schedule_id).bind(old).execute(&mut *tx).await?;
                if moved.rows_affected() == 0 {
                    return Ok(None);
                }
            }
            if jobs.is_empty() {
                tx.commit().await?;
                return Ok(Some(vec![]));
            }
            let mut ids = Vec::with_capacity(jobs.len());
            let mut previous: Option<i64> = None;
            for job in jobs {
                let id = insert_job!(&mut *tx, job, now, previous, Some(schedule_id)).await?;
                ids.push(id);
                previous = Some(id);
            }
            sqlx::query("INSERT INTO schedule_fires (schedule_id, slot, manual, job_ids, fired_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(schedule_id).bind(slot).bind(manual).bind(Json(&ids)).bind(now).execute(&mut *tx).await?;
            sqlx::query("UPDATE schedules SET last_fired_at = $1 WHERE id = $2").bind(now).bind(schedule_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(ids))
        }.await);
        match r {
            Ok(ids) => Ok(ids),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context("could not fire the schedule")),
        }
    }
}
