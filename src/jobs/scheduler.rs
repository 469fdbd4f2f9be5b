//! Schedules: a cron expression in a time zone and a job template. Every worker ticks; a slot
//! fires in the transaction that moves the schedule's `next_fire_at`, so it fires once however
//! many workers run. A slot missed while everything was down fires once at the next start if it
//! is within the schedule's grace window; older slots are skipped.

use crate::store::{NewJob, ScheduleRow, Store};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// One step of a template; steps run in order, each after the one before succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateStep {
    /// A new model with model `model_id`'s spec, trained on the latest version of `dataset_id`
    /// (default: the dataset that model was trained on).
    Retrain {
        model_id: i64,
        #[serde(default)]
        dataset_id: Option<i64>,
        #[serde(default)]
        checkpoint_every: Option<usize>,
        /// Weighted retraining towards good designs (Tripp et al. 2020): `{"column", "maximize"?, "k"?}`.
        #[serde(default)]
        rank_weight: Option<crate::ml::RankWeight>,
    },
    /// Samples `n` rows of the newest model trained from `model_id` into a new dataset.
    Sample {
        model_id: i64,
        n: usize,
        #[serde(default)]
        seed: u64,
    },
    /// A new version of detector `detector_id`: trained (unless it reuses a model) and calibrated
    /// on the latest version of its dataset.
    Recalibrate { detector_id: i64 },
    /// Does nothing (checks that schedules and workers run).
    Noop {
        #[serde(default)]
        sleep_ms: Option<u64>,
    },
}

/// What a schedule runs at each slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    pub steps: Vec<TemplateStep>,
}

impl JobTemplate {
    /// Parses a template, naming the step and field at fault.
    pub fn parse(v: &serde_json::Value) -> Result<JobTemplate, String> {
        let t: JobTemplate = serde_json::from_value(v.clone()).map_err(|e| {
            format!("template: {e} (a template is {{\"steps\": [{{\"kind\": \"retrain\", \"model_id\": 1}}, ...]}}; kinds: retrain, sample, recalibrate, noop)")
        })?;
        if t.steps.is_empty() {
            return Err("template: steps is empty; give at least one step".into());
        }
        if t.steps.len() > 16 {
            return Err("template: at most 16 steps".into());
        }
        Ok(t)
    }

    /// The jobs one slot queues.
    pub fn jobs(&self) -> Vec<NewJob> {
        self.steps
            .iter()
            .map(|s| match s {
                TemplateStep::Retrain { model_id, dataset_id, checkpoint_every, rank_weight } => NewJob {
                    dataset_id: *dataset_id,
                    ..NewJob::new(
                        "train",
                        serde_json::json!({ "retrain_of": model_id, "dataset_id": dataset_id,
                                            "checkpoint_every": checkpoint_every, "rank_weight": rank_weight }),
                    )
                },
                TemplateStep::Sample { model_id, n, seed } => NewJob::new(
                    "sample",
                    serde_json::json!({ "model_id": model_id, "n": n, "seed": seed, "latest_of": model_id }),
                ),
                TemplateStep::Recalibrate { detector_id } => {
                    NewJob::new("calibrate", serde_json::json!({ "detector_id": detector_id }))
                }
                TemplateStep::Noop { sleep_ms } => NewJob::new("noop", serde_json::json!({ "sleep_ms": sleep_ms })),
            })
            .collect()
    }
}

/// A parsed cron expression in a time zone.
#[derive(Clone, Debug)]
pub struct Cron {
    schedule: cron::Schedule,
    tz: Tz,
}

impl Cron {
    /// Standard five fields (`min hour day month weekday`, e.g. `0 2 * * *`), or six/seven with
    /// seconds first and a year last; `tz` is an IANA name such as `Europe/Berlin`.
    pub fn parse(expr: &str, tz: &str) -> Result<Cron, String> {
        let fields = expr.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {expr}"),
            6 | 7 => expr.to_string(),
            _ => {
                return Err(format!(
                    "cron '{expr}' has {fields} fields; use 5 (minute hour day month weekday), e.g. '0 2 * * *'"
                ))
            }
        };
        let schedule = cron::Schedule::from_str(&full).map_err(|e| format!("cron '{expr}' is not valid: {e}"))?;
        let tz = Tz::from_str(tz)
            .map_err(|_| format!("time zone '{tz}' is not an IANA name such as 'Europe/Berlin' or 'UTC'"))?;
        Ok(Cron { schedule, tz })
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&t.with_timezone(&self.tz)).next().map(|d| d.with_timezone(&Utc))
    }

    /// The last slot at or before `now`, searching from `from` (inclusive).
    pub fn last_due(&self, from: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = from - chrono::Duration::seconds(1);
        let mut last = None;
        for (i, d) in self.schedule.after(&start.with_timezone(&self.tz)).enumerate() {
            let d = d.with_timezone(&Utc);
            if d > now || i > 100_000 {
                break;
            }
            last = Some(d);
        }
        last
    }
}

/// Far future: a cron with no further slot (a past year) never fires again.
fn never() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Fires every due schedule once. Returns the slots fired.
pub async fn tick(store: &Store) -> anyhow::Result<usize> {
    let now = Utc::now();
    let mut fired = 0;
    for s in store.due_schedules(now).await? {
        match fire_due(store, &s, now).await {
            Ok(true) => fired += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(schedule = s.id, error = %format!("{e:#}"), "could not fire the schedule"),
        }
    }
    Ok(fired)
}

async fn fire_due(store: &Store, s: &ScheduleRow, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let cron = Cron::parse(&s.cron, &s.timezone).map_err(anyhow::Error::msg)?;
    let next = cron.next_after(now).unwrap_or_else(never);
    let slot = cron.last_due(s.next_fire_at, now).unwrap_or(s.next_fire_at);
    let within_grace = now - slot <= chrono::Duration::seconds(s.grace_seconds);
    let jobs = match JobTemplate::parse(&s.template.0) {
        Ok(t) if within_grace => t.jobs(),
        Ok(_) => vec![],
        Err(e) => {
            tracing::error!(schedule = s.id, error = %e, "schedule template is not valid; slot skipped");
            vec![]
        }
    };
    let skipped = jobs.is_empty();
    match store.fire_schedule(s.id, slot, Some(s.next_fire_at), next, &jobs).await? {
        Some(ids) if !skipped => {
            tracing::info!(schedule = s.id, name = %s.name, %slot, jobs = ?ids, "schedule fired");
            Ok(true)
        }
        Some(_) => {
            tracing::warn!(schedule = s.id, name = %s.name, %slot, grace_s = s.grace_seconds, "slot missed beyond the grace window; skipped");
            Ok(false)
        }
        None => Ok(false),
    }
}

/// Fires a schedule's template now, outside its cron slots (`genfab batch run`, or the API).
pub async fn fire_now(store: &Store, s: &ScheduleRow) -> anyhow::Result<Vec<i64>> {
    let t = JobTemplate::parse(&s.template.0).map_err(anyhow::Error::msg)?;
    let slot = Utc::now();
    store
        .fire_schedule(s.id, slot, None, slot, &t.jobs())
        .await?
        .ok_or_else(|| anyhow::anyhow!("schedule {} was fired at this very instant already", s.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recalibrate_step_queues_a_calibration_of_its_detector() {
        let t =
            JobTemplate::parse(&serde_json::json!({ "steps": [{ "kind": "recalibrate", "detector_id": 7 }] })).unwrap();
        let jobs = t.jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].kind, "calibrate");
        assert_eq!(jobs[0].payload["detector_id"], 7);
        let e = JobTemplate::parse(&serde_json::json!({ "steps": [{ "kind": "recalibrate" }] })).unwrap_err();
        assert!(e.contains("detector_id") && e.contains("recalibrate"), "{e}");
    }
}
