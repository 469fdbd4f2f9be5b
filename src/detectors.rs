//! Anomaly detectors as a service, between the API, the `calibrate` job and the engine
//! (`ml::anomaly`): what a detector is made of, which rows are normal, rows from JSON or CSV
//! into a table the model reads (with an error per bad row, never a failed batch), scoring with
//! explanations, and drift of recently scored rows.

use crate::domain::Schema;
use crate::ml::anomaly::{score_rows, Calibration, Contribution, Reference, ScoreSpec};
use crate::ml::{Column, ColumnKind, FittedVae, Table, VaeError, VaeParams};
use crate::store::ScoreRow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};

/// The reserved key (JSON) or column (CSV) carrying the caller's part or batch number.
pub const ID_KEY: &str = "_id";
/// Contributions reported per row.
pub const TOP_K: usize = 3;
/// Calibration rows kept as the drift reference.
pub const REFERENCE_ROWS: usize = 1000;
/// Recent scored rows drift is measured on.
pub const DRIFT_ROWS: i64 = 1000;
/// Fewer recent rows than this give no drift figure.
pub const MIN_DRIFT_ROWS: usize = 20;
/// Scored rows are kept this long unless the detector says otherwise.
pub const DEFAULT_RETENTION_DAYS: i32 = 90;
/// Rows scored per engine call (bounds memory for large CSV bodies).
const SCORE_BLOCK: usize = 8192;

/// Which rows of the dataset are normal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Normal {
    /// `"all"`: every row is normal; only a false-alarm rate can be calibrated.
    All(AllRows),
    /// Rows whose `label` column holds `value`; rows with another value are known faults.
    Label { label: String, value: Value },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllRows {
    All,
}

/// How a detector is made (the body of `POST /detectors` without name, dataset and retention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    pub normal: Normal,
    /// The columns the model reads (default: every feature column of the dataset).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Reuse this trained model instead of training one.
    #[serde(default)]
    pub model_id: Option<i64>,
    /// The VAE to train on the normal rows (default: genfab's default VAE).
    #[serde(default)]
    pub spec: Option<VaeParams>,
    pub calibration: Calibration,
    #[serde(default)]
    pub score: ScoreSpec,
    /// Share of the normal rows held out of training to calibrate on.
    #[serde(default = "default_holdout")]
    pub holdout: f64,
    /// Seeds the hold-out draw and, by default, the VAE.
    #[serde(default)]
    pub seed: u64,
}

fn default_holdout() -> f64 {
    0.2
}

/// A request mistake, with the field it is in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn bad(field: &str, message: impl Into<String>) -> SpecError {
    SpecError { field: field.into(), message: message.into() }
}

/// A label value as text, so `0`, `0.0`, `false` and `"0"` name the same class.
pub fn label_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.fract() == 0.0 && x.abs() < 9e15 => format!("{}", x as i64),
            _ => n.to_string(),
        },
        Value::String(s) => match s.trim() {
            "true" | "True" | "TRUE" => "1".into(),
            "false" | "False" | "FALSE" => "0".into(),
            t => t
                .parse::<f64>()
                .ok()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9e15)
                .map_or(t.to_string(), |x| format!("{}", x as i64)),
        },
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl DetectorSpec {
    /// Parses a spec, naming the field at fault.
    pub fn parse(v: Value) -> Result<DetectorSpec, SpecError> {
        if let Some(n) = v.get("normal") {
            let ok = n == "all" || (n.get("label").is_some_and(Value::is_string) && n.get("value").is_some());
            if !ok {
                return Err(bad(
                    "normal",
                    format!("must be \"all\" or {{\"label\": COLUMN, \"value\": VALUE}}, got {n}"),
                ));
            }
        }
        if v.get("model_id").is_some_and(|m| !m.is_null()) && v.get("spec").is_some_and(|s| !s.is_null()) {
            return Err(bad("spec", "give model_id (reuse a trained model) or spec (train one), not both"));
        }
        fn field<T: serde::de::DeserializeOwned>(v: &Value, f: &str) -> Result<(), SpecError> {
            match v.get(f).filter(|x| !x.is_null()) {
                Some(x) => serde_json::from_value::<T>(x.clone()).map(|_| ()).map_err(|e| bad(f, e.to_string())),
                None => Ok(()),
            }
        }
        field::<Calibration>(&v, "calibration")?;
        field::<ScoreSpec>(&v, "score")?;
        field::<VaeParams>(&v, "spec")?;
        field::<Vec<String>>(&v, "columns")?;
        field::<f64>(&v, "holdout")?;
        field::<u64>(&v, "seed")?;
        field::<i64>(&v, "model_id")?;
        serde_json::from_value(v).map_err(|e| {
            let msg = e.to_string();
            // "missing field `calibration`" names its field; "unknown field `x`, expected ..." does not
            let field = ["calibration", "normal"]
                .into_iter()
                .find(|f| msg.starts_with(&format!("missing field `{f}`")))
                .unwrap_or("body");
            bad(field, msg)
        })
    }

    /// Checks the spec against the dataset's columns; returns the columns the model will read.
    pub fn check(&self, schema: &Schema) -> Result<Vec<String>, SpecError> {
        let label = match &self.normal {
            Normal::All(_) => None,
            Normal::Label { label, value } => {
                if schema.column(label).is_none() {
                    return Err(bad(
                        "normal.label",
                        format!("the dataset has no column '{label}' (it has {})", schema.names().join(", ")),
                    ));
                }
                if value.is_null() {
                    return Err(bad("normal.value", "give the label value of normal rows, not null"));
                }
                Some(label.as_str())
            }
        };
        let columns: Vec<String> = match &self.columns {
            Some(cols) => {
                if cols.is_empty() {
                    return Err(bad("columns", "give at least one column, or leave columns out for all features"));
                }
                let mut seen = HashSet::new();
                for (i, c) in cols.iter().enumerate() {
                    let field = format!("columns[{i}]");
                    let Some(s) = schema.column(c) else {
                        return Err(bad(&field, format!("the dataset has no column '{c}'")));
                    };
                    if !s.kind.is_numeric()
                        && !matches!(
                            s.kind,
                            crate::domain::ColumnKind::Categorical | crate::domain::ColumnKind::Boolean
                        )
                    {
                        return Err(bad(
                            &field,
                            format!("column '{c}' is {:?}; a detector reads numbers, categories and yes/no", s.kind),
                        ));
                    }
                    if Some(c.as_str()) == label {
                        return Err(bad(
                            &field,
                            format!("'{c}' is the label that says which rows are normal; the model must not read it"),
                        ));
                    }
                    if !seen.insert(c) {
                        return Err(bad(&field, format!("column '{c}' is listed twice")));
                    }
                }
                cols.clone()
            }
            None => schema
                .columns
                .iter()
                .filter(|c| c.role == crate::domain::ColumnRole::Feature && crate::bridge::modelled(c.kind, c.role))
                .filter(|c| Some(c.name.as_str()) != label)
                .map(|c| c.name.clone())
                .collect(),
        };
        if columns.is_empty() {
            return Err(bad("columns", "the dataset has no feature columns a model can read; list them in columns"));
        }
        match self.calibration {
            Calibration::FalseAlarmRate { rate } if !(rate > 0.0 && rate < 1.0) => {
                return Err(bad("calibration.rate", format!("must be strictly between 0 and 1, got {rate}")))
            }
            Calibration::Recall { target } if !(target > 0.0 && target <= 1.0) => {
                return Err(bad("calibration.target", format!("must be in (0, 1], got {target}")))
            }
            Calibration::MaxF1 | Calibration::Recall { .. } if label.is_none() => {
                return Err(bad(
                    "calibration.method",
                    "max_f1 and recall need labelled faults: give normal as {\"label\": COLUMN, \"value\": VALUE}",
                ))
            }
            _ => {}
        }
        if !(0.05..=0.9).contains(&self.holdout) {
            return Err(bad("holdout", format!("must be between 0.05 and 0.9, got {}", self.holdout)));
        }
        self.score.check().map_err(|m| bad("score.samples", m))?;
        Ok(columns)
    }

    /// The label column, if normal rows are chosen by one.
    pub fn label(&self) -> Option<(&str, String)> {
        match &self.normal {
            Normal::All(_) => None,
            Normal::Label { label, value } => Some((label.as_str(), label_text(value))),
        }
    }
}

/// One column the model reads, as a scored row must give it.
#[derive(Debug, Clone)]
pub struct Needed {
    pub name: String,
    pub kind: ColumnKind,
    pub levels: Vec<String>,
    pub missing_ok: bool,
}

/// What went wrong with one cell (or, without a column, the whole row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

/// Rows ready to score, and the ones that are not.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub table: Table,
    /// Request row number of each table row.
    pub rows: Vec<usize>,
    /// The caller's `_id` per table row.
    pub ids: Vec<Option<String>>,
    /// Request row number, its `_id` and its errors, for each refused row.
    pub errors: Vec<(usize, Option<String>, Vec<CellError>)>,
}

enum Cell {
    Number(f64),
    Code(Option<u32>),
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.chars().take(200).collect()),
        other => Some(other.to_string()),
    }
}

fn parse_cell(v: Option<&Value>, col: &Needed) -> Result<Cell, String> {
    let missing = || {
        if col.missing_ok {
            Ok(match col.kind {
                ColumnKind::Continuous | ColumnKind::Integer => Cell::Number(f64::NAN),
                _ => Cell::Code(None),
            })
        } else {
            Err("is empty; the model saw no missing values in this column, so it cannot score the row".to_string())
        }
    };
    let v = match v {
        None => return Err("is missing from the row".into()),
        Some(Value::Null) => return missing(),
        Some(Value::String(s)) if s.trim().is_empty() => return missing(),
        Some(v) => v,
    };
    match col.kind {
        ColumnKind::Continuous | ColumnKind::Integer => {
            let x = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match x {
                Some(x) if x.is_finite() => Ok(Cell::Number(x)),
                Some(_) => Err(format!("{v} is not a finite number")),
                None => Err(format!("{v} is not a number")),
            }
        }
        ColumnKind::Boolean => {
            let b = match v {
                Value::Bool(b) => Some(*b),
                Value::Number(n) => n.as_f64().and_then(|x| match x {
                    0.0 => Some(false),
                    1.0 => Some(true),
                    _ => None,
                }),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Some(true),
                    "false" | "0" | "no" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            b.map(|b| Cell::Code(Some(u32::from(b)))).ok_or_else(|| format!("{v} is not yes/no (true, false, 1, 0)"))
        }
        ColumnKind::Categorical => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                _ => return Err(format!("{v} is not a category")),
            };
            match col.levels.iter().position(|l| *l == text) {
                Some(k) => Ok(Cell::Code(Some(k as u32))),
                None => {
                    let shown: Vec<&str> = col.levels.iter().take(20).map(String::as_str).collect();
                    Err(format!("'{text}' is not a level the model knows ({})", shown.join(", ")))
                }
            }
        }
    }
}

/// A calibrated detector version, loaded to score.
#[derive(Debug)]
pub struct Loaded {
    pub detector_id: i64,
    pub version: i32,
    pub model: FittedVae,
    pub threshold: f64,
    pub score: ScoreSpec,
    pub needed: Vec<Needed>,
    /// Keys a row may carry: the dataset's columns and `_id`.
    pub known: HashSet<String>,
}

/// One scored row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub row: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub score: f64,
    pub anomaly: bool,
    pub top: Vec<Contribution>,
}

impl Loaded {
    pub fn new(
        detector_id: i64,
        version: i32,
        model: FittedVae,
        threshold: f64,
        score: ScoreSpec,
        known_columns: &[String],
    ) -> Loaded {
        let t = model.transform();
        let mut seen = HashSet::new();
        let needed = t
            .columns
            .iter()
            .chain(&t.conditions)
            .filter(|c| seen.insert(c.name.clone()))
            .map(|c| Needed { name: c.name.clone(), kind: c.kind, levels: c.levels.clone(), missing_ok: c.has_missing })
            .collect();
        let mut known: HashSet<String> = known_columns.iter().cloned().collect();
        known.insert(ID_KEY.into());
        Loaded { detector_id, version, model, threshold, score, needed, known }
    }

    /// Rows (JSON objects, or a reason the row could not be read) into a table, with an error
    /// per bad row.
    pub fn inputs(&self, rows: &[Result<Value, String>]) -> Inputs {
        let mut numbers: Vec<Vec<f64>> = vec![vec![]; self.needed.len()];
        let mut codes: Vec<Vec<Option<u32>>> = vec![vec![]; self.needed.len()];
        let (mut kept, mut ids, mut errors) = (vec![], vec![], vec![]);
        for (i, row) in rows.iter().enumerate() {
            let row = match row {
                Ok(row) => row,
                Err(message) => {
                    errors.push((i, None, vec![CellError { column: None, message: message.clone() }]));
                    continue;
                }
            };
            let Some(obj) = row.as_object() else {
                let e =
                    CellError { column: None, message: format!("a row must be an object of column: value, got {row}") };
                errors.push((i, None, vec![e]));
                continue;
            };
            let id = obj.get(ID_KEY).and_then(id_text);
            let mut errs: Vec<CellError> = obj
                .keys()
                .filter(|k| !self.known.contains(k.as_str()))
                .map(|k| CellError {
                    column: Some(k.clone()),
                    message: format!(
                        "is not a column of the detector's dataset (the model reads {})",
                        self.column_list()
                    ),
                })
                .collect();
            let cells: Vec<Option<Cell>> = self
                .needed
                .iter()
                .map(|c| match parse_cell(obj.get(&c.name), c) {
                    Ok(cell) => Some(cell),
                    Err(message) => {
                        errs.push(CellError { column: Some(c.name.clone()), message });
                        None
                    }
                })
                .collect();
            if !errs.is_empty() {
                errors.push((i, id, errs));
                continue;
            }
            for (j, cell) in cells.into_iter().enumerate() {
                match cell {
                    Some(Cell::Number(x)) => numbers[j].push(x),
                    Some(Cell::Code(c)) => codes[j].push(c),
                    None => unreachable!("errors were handled"),
                }
            }
            kept.push(i);
            ids.push(id);
        }
        let columns = self
            .needed
            .iter()
            .zip(numbers.into_iter().zip(codes))
            .map(|(c, (nums, cs))| match c.kind {
                ColumnKind::Continuous => Column::continuous(c.name.clone(), nums),
                ColumnKind::Integer => Column::integer(c.name.clone(), nums),
                ColumnKind::Boolean => {
                    Column::boolean(c.name.clone(), cs.into_iter().map(|k| k.map(|k| k == 1)).collect())
                }
                ColumnKind::Categorical => Column::categorical(c.name.clone(), cs, c.levels.clone()),
            })
            .collect();
        Inputs { table: Table::new(columns), rows: kept, ids, errors }
    }

    fn column_list(&self) -> String {
        self.needed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Scores the good rows; each verdict carries its top contributions.
    pub fn score(&self, inputs: &Inputs) -> Result<Vec<Verdict>, VaeError> {
        let n = inputs.table.n_rows();
        let mut out = Vec::with_capacity(n);
        for lo in (0..n).step_by(SCORE_BLOCK) {
            let idx: Vec<usize> = (lo..(lo + SCORE_BLOCK).min(n)).collect();
            let part;
            let block = if n <= SCORE_BLOCK {
                &inputs.table
            } else {
                part = inputs.table.select_rows(&idx);
                &part
            };
            let scored = score_rows(&self.model, block, &self.score)?;
            for (b, &r) in idx.iter().enumerate() {
                let score = scored.scores[b];
                out.push(Verdict {
                    row: inputs.rows[r],
                    id: inputs.ids[r].clone(),
                    score,
                    anomaly: score > self.threshold,
                    top: scored.explain(block, b, TOP_K),
                });
            }
        }
        Ok(out)
    }

    /// The values of table row `r` that the model read, as a JSON object (text).
    pub fn row_values(&self, table: &Table, r: usize) -> Box<serde_json::value::RawValue> {
        let mut s = String::with_capacity(32 * table.columns.len());
        s.push('{');
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&Value::String(c.name.clone()).to_string());
            s.push(':');
            s.push_str(&crate::ml::anomaly::cell(c, r).to_string());
        }
        s.push('}');
        serde_json::value::RawValue::from_string(s).expect("built as JSON")
    }
}

/// CSV text into JSON rows (cells as strings; empty cells as null). The header must name
/// distinct columns; a record with the wrong number of cells becomes a row error.
pub fn csv_rows(body: &[u8]) -> Result<Vec<Result<Value, String>>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the CSV header cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut seen = HashSet::new();
    for (i, h) in header.iter().enumerate() {
        if h.is_empty() {
            return Err(format!("CSV header column {} has no name", i + 1));
        }
        if !seen.insert(h) {
            return Err(format!("CSV header names column '{h}' twice"));
        }
    }
    let mut rows = vec![];
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("CSV record {} (line {}) cannot be read: {e}", i + 1, i + 2))?;
        if rec.len() != header.len() {
            rows.push(Err(format!("line {} has {} cells, the header {}", i + 2, rec.len(), header.len())));
            continue;
        }
        let obj: Map<String, Value> = header
            .iter()
            .zip(rec.iter())
            .map(|(h, v)| (h.clone(), if v.is_empty() { Value::Null } else { Value::String(v.to_string()) }))
            .collect();
        rows.push(Ok(Value::Object(obj)));
    }
    Ok(rows)
}

/// Drift of recent scored rows against a version's reference: `{rows, score: {psi, ks},
/// columns: [{column, psi, ks}]}`, columns by PSI, largest first; `null` figures below
/// `MIN_DRIFT_ROWS` rows.
pub fn drift_report(reference: &Reference, recent: &[ScoreRow]) -> Value {
    if recent.len() < MIN_DRIFT_ROWS {
        return json!({ "rows": recent.len(), "score": null, "columns": [],
                       "note": format!("drift is measured from {MIN_DRIFT_ROWS} scored rows on") });
    }
    let scores: Vec<f64> = recent.iter().map(|r| r.score).collect();
    let mut cols: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in recent {
        for name in reference.columns.keys() {
            let x = r.row_values.0.get(name).and_then(Value::as_f64).unwrap_or(f64::NAN);
            cols.entry(name.clone()).or_default().push(x);
        }
    }
    let (score, mut columns) = reference.drift(&scores, &cols);
    columns.sort_by(|a, b| b.1.psi.total_cmp(&a.1.psi));
    let finite = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({
        "rows": recent.len(),
        "score": { "psi": finite(score.psi), "ks": finite(score.ks) },
        "columns": columns.iter().map(|(c, d)| json!({ "column": c, "psi": finite(d.psi), "ks": finite(d.ks) })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ColumnKind as Kind, ColumnRole, ColumnSchema};
    use crate::ml::fitted::tests::toy_table;
    use crate::ml::train::{fit, NoObserver};

    fn col(name: &str, kind: Kind, role: ColumnRole) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            kind,
            role,
            min: None,
            max: None,
            declared_min: None,
            declared_max: None,
            levels: vec![],
            levels_declared: false,
            missing: 0,
        }
    }

    fn schema() -> Schema {
        Schema {
            columns: vec![
                col("UDI", Kind::Integer, ColumnRole::Id),
                col("Type", Kind::Categorical, ColumnRole::Feature),
                col("Torque", Kind::Continuous, ColumnRole::Feature),
                col("note", Kind::Text, ColumnRole::Feature),
                col("failure", Kind::Integer, ColumnRole::Label),
            ],
        }
    }

    fn spec(extra: Value) -> Result<Vec<String>, SpecError> {
        let mut v = json!({ "normal": { "label": "failure", "value": 0 }, "calibration": { "method": "max_f1" } });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        DetectorSpec::parse(v)?.check(&schema())
    }

    fn field_of(extra: Value) -> String {
        spec(extra.clone()).map(|c| format!("accepted: {c:?}")).unwrap_or_else(|e| e.field)
    }

    #[test]
    fn a_spec_reads_the_feature_columns_and_each_mistake_names_its_field() {
        assert_eq!(spec(json!({})).unwrap(), vec!["Type", "Torque"], "id, text and label columns are left out");
        assert_eq!(spec(json!({ "columns": ["Torque"] })).unwrap(), vec!["Torque"]);
        assert_eq!(field_of(json!({ "normal": { "label": "nope", "value": 0 } })), "normal.label");
        assert_eq!(field_of(json!({ "normal": "some" })), "normal");
        assert_eq!(field_of(json!({ "normal": { "label": "failure", "value": null } })), "normal.value");
        assert_eq!(field_of(json!({ "columns": ["Torque", "Colour"] })), "columns[1]");
        assert_eq!(field_of(json!({ "columns": ["failure"] })), "columns[0]");
        assert_eq!(field_of(json!({ "columns": ["note"] })), "columns[0]");
        assert_eq!(field_of(json!({ "columns": ["Type", "Type"] })), "columns[1]");
        assert_eq!(field_of(json!({ "columns": [] })), "columns");
        assert_eq!(
            field_of(json!({ "calibration": { "method": "false_alarm_rate", "rate": 1.5 } })),
            "calibration.rate"
        );
        assert_eq!(field_of(json!({ "calibration": { "method": "recall", "target": 0 } })), "calibration.target");
        assert_eq!(field_of(json!({ "calibration": { "method": "guess" } })), "calibration");
        assert_eq!(field_of(json!({ "normal": "all" })), "calibration.method", "max_f1 needs labelled faults");
        assert_eq!(field_of(json!({ "holdout": 0.99 })), "holdout");
        assert_eq!(field_of(json!({ "score": { "samples": 0 } })), "score.samples");
        assert_eq!(field_of(json!({ "score": { "method": "magic" } })), "score");
        assert_eq!(field_of(json!({ "spec": { "latent": "big" } })), "spec");
        assert_eq!(field_of(json!({ "spec": {}, "model_id": 3 })), "spec");
        assert_eq!(field_of(json!({ "colour": 1 })), "body");
        let all = spec(json!({ "normal": "all", "calibration": { "method": "false_alarm_rate", "rate": 0.01 } }));
        assert_eq!(all.unwrap(), vec!["Type", "Torque"]);
    }

    #[test]
    fn label_values_compare_as_text_whatever_their_json_type() {
        for (a, b) in
            [(json!(0), json!("0")), (json!(0.0), json!(0)), (json!(false), json!("0")), (json!("true"), json!(1))]
        {
            assert_eq!(label_text(&a), label_text(&b), "{a} vs {b}");
        }
        assert_ne!(label_text(&json!("ok")), label_text(&json!("fault")));
        assert_eq!(label_text(&json!(" ok ")), "ok");
    }

    fn loaded() -> (Loaded, Table) {
        let t = toy_table(300, 4);
        let p = VaeParams::new().hidden(vec![8]).latent(2).epochs(3).seed(1).patience(None);
        let m = fit(&p.check(&t).unwrap(), &t, &mut NoObserver).unwrap();
        let known: Vec<String> = t.columns.iter().map(|c| c.name.clone()).chain(["UDI".to_string()]).collect();
        (Loaded::new(1, 1, m, 0.0, ScoreSpec::default(), &known), t)
    }

    #[test]
    fn bad_rows_get_their_own_errors_and_good_rows_are_scored() {
        let (l, _) = loaded();
        let good = json!({ "a": 10.0, "b": 0.1, "k": 3, "band": "mid", "flag": true, "gaps": null, "const": 1.25,
                           "UDI": 7, "_id": "P-1" });
        let mut rows: Vec<Result<Value, String>> = vec![Ok(good.clone())];
        let mut with = |k: &str, v: Value| {
            let mut r = good.clone();
            if v == json!("<drop>") {
                r.as_object_mut().unwrap().remove(k);
            } else {
                r[k] = v;
            }
            rows.push(Ok(r));
        };
        with("a", json!("<drop>")); // 1: missing
        with("colour", json!("red")); // 2: unknown column
        with("b", json!("abc")); // 3: not a number
        with("band", json!("huge")); // 4: unknown level
        with("flag", json!("maybe")); // 5: not yes/no
        with("a", json!(null)); // 6: empty where the model saw no gaps
        with("k", json!("4")); // 7: numbers as text are fine (CSV)
        with("flag", json!(0)); // 8: 0 is no
        rows.push(Ok(json!([1, 2]))); // 9: not an object
        rows.push(Err("line 11 has 2 cells, the header 8".into())); // 10: unreadable
        let inputs = l.inputs(&rows);
        assert_eq!(inputs.rows, vec![0, 7, 8]);
        assert_eq!(inputs.ids[0].as_deref(), Some("P-1"));
        let errs: BTreeMap<usize, &Vec<CellError>> = inputs.errors.iter().map(|(r, _, e)| (*r, e)).collect();
        assert_eq!(errs.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6, 9, 10]);
        let says = |r: usize, column: &str, needle: &str| {
            let e = errs[&r]
                .iter()
                .find(|e| e.column.as_deref() == Some(column))
                .unwrap_or_else(|| panic!("{r}: {:?}", errs[&r]));
            assert!(e.message.contains(needle), "{r}: {}", e.message);
        };
        says(1, "a", "missing");
        says(2, "colour", "not a column");
        says(3, "b", "not a number");
        says(4, "band", "hi, lo, mid");
        says(5, "flag", "yes/no");
        says(6, "a", "empty");
        assert!(errs[&10][0].message.contains("line 11"));
        let verdicts = l.score(&inputs).unwrap();
        assert_eq!(verdicts.len(), 3);
        assert_eq!(verdicts.iter().map(|v| v.row).collect::<Vec<_>>(), vec![0, 7, 8]);
        assert!(verdicts.iter().all(|v| v.score.is_finite() && v.top.len() == TOP_K && v.anomaly == (v.score > 0.0)));
        // the same row alone scores the same
        let alone = l.score(&l.inputs(&[Ok(good)])).unwrap();
        assert_eq!(alone[0].score, verdicts[0].score);
        let values: Value = serde_json::from_str(l.row_values(&inputs.table, 0).get()).unwrap();
        assert_eq!(values["band"], json!("mid"));
        assert_eq!(values["k"], json!(3));
    }

    #[test]
    fn csv_bodies_become_rows_with_short_records_as_row_errors() {
        let rows = csv_rows(b"\xef\xbb\xbfa,b,_id\n1.5,2,x\n3\n,4,y\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].as_ref().unwrap(), &json!({ "a": "1.5", "b": "2", "_id": "x" }));
        assert!(rows[1].as_ref().unwrap_err().contains("line 3 has 1 cells"));
        assert_eq!(rows[2].as_ref().unwrap()["a"], Value::Null);
        assert!(csv_rows(b"a,a\n1,2\n").unwrap_err().contains("twice"));
        assert!(csv_rows(b"a,,c\n1,2,3\n").unwrap_err().contains("column 2"));
    }
}
