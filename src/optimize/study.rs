//! A design study: what an engineer writes (variables, surrogates, objectives, constraints) checked
//! into a [`Problem`] that every solver can search, in the space of the design parameters or in a
//! VAE's latent space decoded to design columns.
//!
//! Names an expression may use: the design columns; for each surrogate `NAME`, its prediction `NAME`
//! and its uncertainty `NAME_std`; in a latent study, `latent_norm` (the Euclidean norm of the latent
//! point). A categorical column's value in an expression is its level index (0-based). In a
//! latent study of a shape family with `shape` set: the outline's measures (`area`, `perimeter`,
//! `thickness`, `thickness_x`, `camber`, `camber_x`, `le_radius`, `te_angle_deg`, `roughness`,
//! `x_min`, `y_min`, `x_max`, `y_max`), `valid` (1 or 0) and, with `alpha_deg`, the panel
//! method's `cl` and `cm`.

use super::expr::{Compiled, Constraint, Expr, ExprError};
use super::problem::{Evaluation, Problem};
use super::sampling::{DesignSpace, Dimension};
use super::surrogate::{Surrogate, SurrogateSpec};
use crate::ml::{ColumnData, FittedVae};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Whether an objective is to be made small or large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    #[default]
    Minimize,
    Maximize,
}

/// A design variable as the engineer declares it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableSpec {
    pub name: String,
    /// `continuous`, `integer` or `categorical`.
    pub kind: VariableKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<f64>,
    /// Integer step (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    /// Allowed categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableKind {
    Continuous,
    Integer,
    Categorical,
}

/// A surrogate to fit: `name` predicts column `target` of the study's dataset from `inputs`
/// (default: every numeric design variable that is a column of the dataset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurrogateDef {
    pub name: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<String>>,
    #[serde(default)]
    pub model: SurrogateSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    pub name: String,
    /// How genfab computes it; without one the objective is measured outside (ask/tell only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    #[serde(default)]
    pub goal: Goal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `lhs <= rhs`, `lhs >= rhs` or `lhs == rhs`.
    pub expr: String,
}

/// Searching a VAE's latent space: a box of ±`k` prior standard deviations per latent dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatentSpec {
    pub model_id: i64,
    #[serde(default = "three")]
    pub k: f64,
}

fn three() -> f64 {
    3.0
}

/// "Near the data": in design space, at most `max_distance` (in standard deviations of the
/// data's columns) from the nearest row; in latent space, `latent_norm <= max_latent_norm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_distance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latent_norm: Option<f64>,
}

/// What the engineer writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    #[serde(default)]
    pub variables: Vec<VariableSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent: Option<LatentSpec>,
    #[serde(default)]
    pub surrogates: Vec<SurrogateDef>,
    pub objectives: Vec<ObjectiveSpec>,
    #[serde(default)]
    pub constraints: Vec<ConstraintSpec>,
    #[serde(default)]
    pub near_data: NearData,
    /// Shape scoring in a latent study of a shape family: the outline's measures, `valid`, and
    /// with `alpha_deg` the panel method's `cl` and `cm` at that angle of attack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeScoring>,
}

/// What a shape study computes for each decoded outline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeScoring {
    /// Angle of attack in degrees for `cl` and `cm` (none: no panel method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha_deg: Option<f64>,
}

/// A latent study's outline: where its points are among the design values, and the angle of
/// attack of its panel method.
struct ShapeEval {
    layout: crate::shapes::layout::Layout,
    alpha: Option<f64>,
}

impl ShapeEval {
    /// Names it adds to expressions, in the order of [`ShapeEval::values`].
    fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = crate::shapes::measure::Measures::NAMES.iter().map(|s| s.to_string()).collect();
        n.push("valid".into());
        if self.alpha.is_some() {
            n.extend(["cl".to_string(), "cm".to_string()]);
        }
        n
    }

    /// Measures, validity (1 or 0) and, for a valid outline, lift and moment coefficients
    /// (NaN for an invalid one, so it never wins).
    fn values(&self, design: &[f64]) -> Vec<f64> {
        use crate::shapes::{measure, panel, validate};
        let pts = self.layout.outline(design);
        let valid = validate::check_points(&pts, "candidate", validate::Closure::Open).is_empty();
        let mut v = measure::of(&pts).values().to_vec();
        v.push(if valid { 1.0 } else { 0.0 });
        if let Some(alpha) = self.alpha {
            let (cl, cm) = match valid {
                true => panel::solve(&pts, alpha.to_radians()).map_or((f64::NAN, f64::NAN), |r| (r.cl, r.cm)),
                false => (f64::NAN, f64::NAN),
            };
            v.extend([cl, cm]);
        }
        v
    }
}

/// A mistake in a study, with the field it is in (`objectives[1].expr`) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StudyError {
    pub field: String,
    pub message: String,
}

impl StudyError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> StudyError {
        StudyError { field: field.into(), message: message.into() }
    }

    fn expr(field: String, src: &str, e: ExprError) -> StudyError {
        StudyError::new(field, format!("{} (in `{src}`)", e.message))
    }
}

/// The rows a study draws on: numeric columns by name (categoricals as level codes, NaN missing).
#[derive(Debug, Clone, Default)]
pub struct StudyData {
    pub columns: Vec<(String, Vec<f64>, Vec<String>)>,
}

impl StudyData {
    /// Numeric and categorical columns of an engine table.
    pub fn from_table(t: &crate::ml::Table) -> StudyData {
        let columns = t
            .columns
            .iter()
            .map(|c| match &c.data {
                ColumnData::Numeric(v) => (c.name.clone(), v.clone(), vec![]),
                ColumnData::Categorical { codes, levels } => {
                    (c.name.clone(), codes.iter().map(|c| c.map_or(f64::NAN, f64::from)).collect(), levels.clone())
                }
            })
            .collect();
        StudyData { columns }
    }

    fn column(&self, name: &str) -> Option<&(String, Vec<f64>, Vec<String>)> {
        self.columns.iter().find(|c| c.0 == name)
    }

    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.1.len())
    }
}

impl StudySpec {
    /// Fills unbounded variables from the data (min and max of the column; its levels for a
    /// categorical) and checks everything that does not need fitting.
    pub fn resolve(mut self, data: Option<&StudyData>) -> Result<StudySpec, StudyError> {
        if self.objectives.is_empty() {
            return Err(StudyError::new("objectives", "a study needs at least one objective"));
        }
        if self.latent.is_some() && !self.variables.is_empty() {
            return Err(StudyError::new(
                "variables",
                "a latent study searches the model's latent space; leave out variables (the decoded columns are the design)",
            ));
        }
        if self.latent.is_none() && self.variables.is_empty() {
            return Err(StudyError::new("variables", "declare at least one design variable (or a latent space)"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, v) in self.variables.iter_mut().enumerate() {
            let field = |f: &str| format!("variables[{i}].{f}");
            if !seen.insert(v.name.clone()) {
                return Err(StudyError::new(field("name"), format!("variable `{}` is declared twice", v.name)));
            }
            let col = data.and_then(|d| d.column(&v.name));
            match v.kind {
                VariableKind::Categorical => {
                    if v.levels.is_empty() {
                        match col {
                            Some((_, _, levels)) if !levels.is_empty() => v.levels = levels.clone(),
                            _ => {
                                return Err(StudyError::new(
                                    field("levels"),
                                    format!("give the allowed levels of `{}`", v.name),
                                ))
                            }
                        }
                    }
                }
                _ => {
                    if v.lo.is_none() || v.hi.is_none() {
                        let Some((_, values, _)) = col else {
                            return Err(StudyError::new(
                                field("lo"),
                                format!("give lo and hi for `{}` (it is not a column of the dataset)", v.name),
                            ));
                        };
                        let finite = values.iter().copied().filter(|x| x.is_finite());
                        let (lo, hi) =
                            finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
                        if !lo.is_finite() {
                            return Err(StudyError::new(field("lo"), format!("column `{}` has no values", v.name)));
                        }
                        v.lo.get_or_insert(lo);
                        v.hi.get_or_insert(hi);
                    }
                    let (lo, hi) = (v.lo.unwrap_or_default(), v.hi.unwrap_or_default());
                    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
                        return Err(StudyError::new(
                            field("lo"),
                            format!("bounds [{lo}, {hi}] are not finite and ordered"),
                        ));
                    }
                    if v.kind == VariableKind::Integer {
                        if v.step.is_some_and(|s| s <= 0) {
                            return Err(StudyError::new(field("step"), "the step must be a positive integer"));
                        }
                        if lo.fract() != 0.0 || hi.fract() != 0.0 {
                            return Err(StudyError::new(field("lo"), "integer bounds must be whole numbers"));
                        }
                    } else if v.step.is_some() {
                        return Err(StudyError::new(field("step"), "only integer variables have a step"));
                    }
                }
            }
        }
        if let Some(l) = &self.latent {
            if !(l.k.is_finite() && l.k > 0.0) {
                return Err(StudyError::new("latent.k", "k must be a positive number of standard deviations"));
            }
        }
        if self.near_data.max_latent_norm.is_some() && self.latent.is_none() {
            return Err(StudyError::new("near_data.max_latent_norm", "only a latent study has a latent norm"));
        }
        if self.near_data.max_distance.is_some() && data.is_none() {
            return Err(StudyError::new("near_data.max_distance", "distance to the data needs the study's dataset"));
        }
        let mut objective_names = std::collections::HashSet::new();
        for (i, o) in self.objectives.iter().enumerate() {
            if o.name.trim().is_empty() || !objective_names.insert(o.name.clone()) {
                return Err(StudyError::new(
                    format!("objectives[{i}].name"),
                    "objective names must be non-empty and distinct",
                ));
            }
            if let Some(src) = &o.expr {
                Expr::parse(src).map_err(|e| StudyError::expr(format!("objectives[{i}].expr"), src, e))?;
            }
        }
        for (i, c) in self.constraints.iter().enumerate() {
            Constraint::parse(&c.expr).map_err(|e| StudyError::expr(format!("constraints[{i}].expr"), &c.expr, e))?;
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.surrogates.iter().enumerate() {
            if !names.insert(s.name.clone()) || self.variables.iter().any(|v| v.name == s.name) {
                return Err(StudyError::new(
                    format!("surrogates[{i}].name"),
                    format!("`{}` is already a name", s.name),
                ));
            }
            if data.is_none() {
                return Err(StudyError::new(
                    format!("surrogates[{i}]"),
                    "a surrogate is fitted on the study's dataset; give dataset_id",
                ));
            }
        }
        Ok(self)
    }

    /// The numeric design variables that are columns of the data: a surrogate's default inputs.
    fn default_inputs(&self, data: &StudyData) -> Vec<String> {
        self.variables
            .iter()
            .filter(|v| v.kind != VariableKind::Categorical && data.column(&v.name).is_some())
            .map(|v| v.name.clone())
            .collect()
    }

    /// Fits every surrogate on the rows of `data` where its inputs and target are present.
    pub fn fit_surrogates(&self, data: &StudyData) -> Result<Vec<Surrogate>, StudyError> {
        let mut out = Vec::with_capacity(self.surrogates.len());
        for (i, s) in self.surrogates.iter().enumerate() {
            let field = format!("surrogates[{i}]");
            let inputs = s.inputs.clone().unwrap_or_else(|| self.default_inputs(data));
            if inputs.is_empty() {
                return Err(StudyError::new(
                    format!("{field}.inputs"),
                    "no numeric design variable is a column of the dataset",
                ));
            }
            let mut cols = Vec::with_capacity(inputs.len());
            for name in &inputs {
                match data.column(name) {
                    Some((_, v, levels)) if levels.is_empty() => cols.push(v),
                    Some(_) => {
                        return Err(StudyError::new(
                            format!("{field}.inputs"),
                            format!("`{name}` is categorical; inputs must be numeric"),
                        ))
                    }
                    None => {
                        return Err(StudyError::new(
                            format!("{field}.inputs"),
                            format!("`{name}` is not a column of the dataset"),
                        ))
                    }
                }
                if !self.variables.iter().any(|v| &v.name == name) && self.latent.is_none() {
                    return Err(StudyError::new(
                        format!("{field}.inputs"),
                        format!("`{name}` is not a design variable"),
                    ));
                }
            }
            let target = match data.column(&s.target) {
                Some((_, v, levels)) if levels.is_empty() => v,
                Some(_) => {
                    return Err(StudyError::new(format!("{field}.target"), format!("`{}` is categorical", s.target)))
                }
                None => {
                    return Err(StudyError::new(
                        format!("{field}.target"),
                        format!("`{}` is not a column of the dataset", s.target),
                    ))
                }
            };
            let rows: Vec<usize> = (0..data.n_rows())
                .filter(|&r| target[r].is_finite() && cols.iter().all(|c| c[r].is_finite()))
                .collect();
            let x = Array2::from_shape_fn((rows.len(), cols.len()), |(i, j)| cols[j][rows[i]]);
            let y = ndarray::Array1::from_iter(rows.iter().map(|&r| target[r]));
            let fitted = Surrogate::fit(&inputs, &s.target, x.view(), y.view(), &s.model)
                .map_err(|e| StudyError::new(field.clone(), e.to_string()))?;
            out.push(fitted);
        }
        Ok(out)
    }
}

/// A latent space's decoder: latent point to design values, in the order of `columns`.
pub struct LatentDecoder {
    vae: FittedVae,
    columns: Vec<(String, Vec<String>)>,
}

impl LatentDecoder {
    /// An unconditioned model's decoder (a conditional model would need its conditions chosen too).
    pub fn new(vae: FittedVae) -> Result<LatentDecoder, StudyError> {
        if !vae.condition_columns().is_empty() {
            return Err(StudyError::new(
                "latent.model_id",
                "the model is conditioned on a label; a latent study needs a model trained without conditions",
            ));
        }
        let probe = vae
            .decode(Array2::<f32>::zeros((1, vae.latent())).view(), &[])
            .map_err(|e| StudyError::new("latent.model_id", e.to_string()))?;
        let columns = probe
            .columns
            .iter()
            .map(|c| match &c.data {
                ColumnData::Numeric(_) => (c.name.clone(), vec![]),
                ColumnData::Categorical { levels, .. } => (c.name.clone(), levels.clone()),
            })
            .collect();
        Ok(LatentDecoder { vae, columns })
    }

    pub fn latent(&self) -> usize {
        self.vae.latent()
    }

    /// Column names and levels (empty for numeric columns) of the decoded design.
    pub fn columns(&self) -> &[(String, Vec<String>)] {
        &self.columns
    }

    /// Decodes latent points (rows) to design values (categoricals as level codes).
    pub fn decode(&self, z: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let m = Array2::from_shape_fn((z.len(), self.latent()), |(i, j)| z[i][j] as f32);
        let t = self.vae.decode(m.view(), &[]).expect("an unconditioned model decodes any latent point");
        (0..z.len())
            .map(|i| {
                t.columns
                    .iter()
                    .map(|c| match &c.data {
                        ColumnData::Numeric(v) => v[i],
                        ColumnData::Categorical { codes, .. } => codes[i].map_or(f64::NAN, f64::from),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Standardised reference rows for the distance to the nearest made design.
struct Reference {
    /// Index into the design values of each compared column.
    idx: Vec<usize>,
    mean: Vec<f64>,
    scale: Vec<f64>,
    rows: Vec<Vec<f64>>,
}

impl Reference {
    fn nearest(&self, design: &[f64]) -> f64 {
        let q: Vec<f64> =
            self.idx.iter().enumerate().map(|(j, &k)| (design[k] - self.mean[j]) / self.scale[j]).collect();
        let d2 = self
            .rows
            .iter()
            .map(|r| r.iter().zip(&q).map(|(a, b)| (a - b) * (a - b)).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        d2.sqrt()
    }
}

/// One point evaluated: what the solver sees, and what `detail` shows.
struct Evaluated {
    eval: Evaluation,
    /// Each surrogate's mean and standard deviation.
    preds: Vec<(f64, f64)>,
    novelty: Option<f64>,
    /// The value of every name an expression may use.
    env: Vec<f64>,
}

/// A study ready to search: implements [`Problem`].
pub struct Study {
    space: DesignSpace,
    /// Names of the design values (the variables, or the decoded columns of a latent study).
    design: Vec<String>,
    /// Levels of each design value (empty for numeric).
    levels: Vec<Vec<String>>,
    /// Each surrogate with the design values it reads and whether an expression uses its `_std`
    /// (the GP's posterior variance costs ten times its mean).
    surrogates: Vec<(Surrogate, Vec<usize>, bool)>,
    /// `None`: measured outside genfab.
    objectives: Vec<(Option<Compiled>, Goal)>,
    constraints: Vec<(Constraint, Compiled)>,
    /// The near-data distance limit of a design-space study (checked after the expression constraints).
    near_distance: Option<f64>,
    decoder: Option<LatentDecoder>,
    shape: Option<ShapeEval>,
    reference: Option<Reference>,
    objective_names: Vec<String>,
    constraint_names: Vec<String>,
    surrogate_names: Vec<String>,
}

/// One evaluated point, in the words of the study.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    /// Design values by name (categoricals by level).
    pub design: serde_json::Map<String, serde_json::Value>,
    /// The latent point, in a latent study.
    pub latent: Option<Vec<f64>>,
    /// Objective values as the engineer wrote them (not negated), by name.
    pub objectives: serde_json::Map<String, serde_json::Value>,
    /// Left-hand side minus right-hand side of each constraint, by name.
    pub constraints: serde_json::Map<String, serde_json::Value>,
    /// Surrogate predictions with their uncertainty.
    pub predictions: serde_json::Map<String, serde_json::Value>,
    /// Distance to the nearest row of the dataset, in standard deviations (None without data).
    pub novelty: Option<f64>,
}

impl Study {
    /// Builds the problem from a resolved spec, fitted surrogates (in spec order), the data (for
    /// novelty) and, in a latent study, the decoder.
    pub fn new(
        spec: &StudySpec,
        surrogates: Vec<Surrogate>,
        data: Option<&StudyData>,
        decoder: Option<LatentDecoder>,
    ) -> Result<Study, StudyError> {
        let (space, design, levels) = match &decoder {
            Some(d) => {
                let k = spec.latent.as_ref().map_or(3.0, |l| l.k);
                let dims = vec![Dimension::Continuous { lo: -k, hi: k }; d.latent()];
                let names: Vec<String> = d.columns().iter().map(|c| c.0.clone()).collect();
                let levels = d.columns().iter().map(|c| c.1.clone()).collect();
                (DesignSpace::new(dims), names, levels)
            }
            None => {
                let dims = spec
                    .variables
                    .iter()
                    .map(|v| match v.kind {
                        VariableKind::Continuous => {
                            Dimension::Continuous { lo: v.lo.unwrap_or_default(), hi: v.hi.unwrap_or_default() }
                        }
                        VariableKind::Integer => Dimension::Integer {
                            lo: v.lo.unwrap_or_default() as i64,
                            hi: v.hi.unwrap_or_default() as i64,
                            step: v.step.unwrap_or(1),
                        },
                        VariableKind::Categorical => Dimension::Categorical { levels: v.levels.len() },
                    })
                    .collect();
                let names: Vec<String> = spec.variables.iter().map(|v| v.name.clone()).collect();
                let levels = spec.variables.iter().map(|v| v.levels.clone()).collect();
                (DesignSpace::new(dims), names, levels)
            }
        };
        let space = space.map_err(|e| StudyError::new("variables", e.to_string()))?;
        if spec.latent.is_some() != decoder.is_some() {
            return Err(StudyError::new("latent", "a latent study needs its model's decoder"));
        }
        // Expression names: design values, then each surrogate's mean and std, then latent_norm.
        let mut names: Vec<String> = design.clone();
        let mut bound = Vec::new();
        for (i, s) in surrogates.into_iter().enumerate() {
            let idx = s
                .inputs
                .iter()
                .map(|n| {
                    design.iter().position(|d| d == n).ok_or_else(|| {
                        StudyError::new(
                            format!("surrogates[{i}].inputs"),
                            format!("`{n}` is not a design value of this study"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            // whether an expression reads its `_std` is set once the expressions are parsed
            bound.push((s, idx, false));
        }
        let surrogate_names: Vec<String> = spec.surrogates.iter().map(|s| s.name.clone()).collect();
        names.extend(surrogate_names.iter().cloned());
        for def in &spec.surrogates {
            names.push(format!("{}_std", def.name));
        }
        if decoder.is_some() {
            names.push("latent_norm".into());
        }
        let shape = match (&spec.shape, &decoder) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(StudyError::new("shape", "shape scoring needs a latent study of a model of a shape family"))
            }
            (Some(s), Some(d)) => {
                let columns: Vec<&str> = d.columns().iter().map(|c| c.0.as_str()).collect();
                let layout = crate::shapes::layout::Layout::find(&columns).ok_or_else(|| {
                    StudyError::new("shape", "the model's columns are not a shape family (no x000.., y000..)")
                })?;
                if let Some(a) = s.alpha_deg {
                    if !(a.is_finite() && a.abs() <= 20.0) {
                        return Err(StudyError::new("shape.alpha_deg", "alpha_deg must be between -20 and 20 degrees"));
                    }
                }
                let e = ShapeEval { layout, alpha: s.alpha_deg };
                for n in e.names() {
                    if names.contains(&n) {
                        return Err(StudyError::new(
                            "shape",
                            format!("the model has a column named '{n}', which is also a shape measure; rename the attribute"),
                        ));
                    }
                    names.push(n);
                }
                Some(e)
            }
        };
        let mut used = std::collections::HashSet::new();
        let objectives = spec
            .objectives
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let Some(src) = &o.expr else { return Ok((None, o.goal)) };
                let f = format!("objectives[{i}].expr");
                let e = Expr::parse(src).map_err(|e| StudyError::expr(f.clone(), src, e))?;
                used.extend(e.variables());
                let c = e.bind(&names).map_err(|e| StudyError::expr(f, src, e))?;
                Ok((Some(c), o.goal))
            })
            .collect::<Result<Vec<_>, StudyError>>()?;
        let mut constraints = Vec::new();
        let mut constraint_names = Vec::new();
        for (i, c) in spec.constraints.iter().enumerate() {
            let f = format!("constraints[{i}].expr");
            let parsed = Constraint::parse(&c.expr).map_err(|e| StudyError::expr(f.clone(), &c.expr, e))?;
            let compiled = parsed.expr.bind(&names).map_err(|e| StudyError::expr(f, &c.expr, e))?;
            used.extend(parsed.expr.variables());
            constraints.push((parsed, compiled));
            constraint_names.push(c.name.clone().unwrap_or_else(|| c.expr.clone()));
        }
        for ((_, _, uses_std), name) in bound.iter_mut().zip(&surrogate_names) {
            *uses_std = used.contains(&format!("{name}_std"));
        }
        if let Some(limit) = spec.near_data.max_latent_norm {
            let parsed = Constraint::parse(&format!("latent_norm <= {limit}"))
                .map_err(|e| StudyError::new("near_data.max_latent_norm", e.message))?;
            let compiled = parsed.expr.bind(&names).map_err(|e| StudyError::new("near_data", e.message))?;
            constraints.push((parsed, compiled));
            constraint_names.push("near_data".into());
        }
        let reference = data.and_then(|d| reference(d, &design));
        if spec.near_data.max_distance.is_some() && reference.is_none() {
            return Err(StudyError::new(
                "near_data.max_distance",
                "no design value is a numeric column of the dataset",
            ));
        }
        Ok(Study {
            space,
            objective_names: spec.objectives.iter().map(|o| o.name.clone()).collect(),
            design,
            levels,
            surrogates: bound,
            surrogate_names,
            objectives,
            constraints,
            near_distance: spec.near_data.max_distance,
            decoder,
            shape,
            reference,
            constraint_names: {
                let mut n = constraint_names;
                if spec.near_data.max_distance.is_some() {
                    n.push("near_data".into());
                }
                n
            },
        })
    }

    /// Names of the design values.
    pub fn design_names(&self) -> &[String] {
        &self.design
    }

    pub fn objective_names(&self) -> &[String] {
        &self.objective_names
    }

    pub fn constraint_names(&self) -> &[String] {
        &self.constraint_names
    }

    /// Whether every objective is computed by genfab (so a solver can run on its own).
    pub fn computable(&self) -> bool {
        self.objectives.iter().all(|o| o.0.is_some())
    }

    pub fn goals(&self) -> Vec<Goal> {
        self.objectives.iter().map(|o| o.1).collect()
    }

    pub fn is_latent(&self) -> bool {
        self.decoder.is_some()
    }

    /// Design values for a searched point: itself, or the decoded latent point.
    pub fn design_of(&self, x: &[f64]) -> Vec<f64> {
        match &self.decoder {
            Some(d) => d.decode(&[x.to_vec()]).pop().unwrap_or_default(),
            None => x.to_vec(),
        }
    }

    fn env(&self, x: &[f64], design: &[f64], with_std: bool) -> (Vec<f64>, Vec<(f64, f64)>) {
        let mut env = design.to_vec();
        let preds: Vec<(f64, f64)> = self
            .surrogates
            .iter()
            .map(|(s, idx, uses_std)| {
                let input: Vec<f64> = idx.iter().map(|&k| design[k]).collect();
                if *uses_std || with_std {
                    let p = s.predict(&input);
                    (p.mean, p.std)
                } else {
                    (s.predict_mean(&input), f64::NAN)
                }
            })
            .collect();
        env.extend(preds.iter().map(|p| p.0));
        env.extend(preds.iter().map(|p| p.1));
        if self.decoder.is_some() {
            env.push(x.iter().map(|v| v * v).sum::<f64>().sqrt());
        }
        if let Some(s) = &self.shape {
            env.extend(s.values(design));
        }
        (env, preds)
    }

    /// The evaluation, the surrogates' predictions, the novelty and the expression values.
    fn evaluate_design(&self, x: &[f64], design: &[f64], with_std: bool) -> Evaluated {
        let (env, preds) = self.env(x, design, with_std);
        let objectives = self
            .objectives
            .iter()
            .map(|(c, goal)| {
                // A measured objective is unknown here (NaN); a computed one that is undefined never wins.
                let Some(c) = c else { return f64::NAN };
                let v = c.eval(&env);
                let v = if v.is_nan() { f64::INFINITY } else { v };
                match goal {
                    Goal::Minimize => v,
                    Goal::Maximize => -v,
                }
            })
            .collect();
        let mut constraints: Vec<f64> = self.constraints.iter().map(|(_, c)| c.eval(&env)).collect();
        let mut violation: f64 = self.constraints.iter().zip(&constraints).map(|((k, _), &v)| k.violation(v)).sum();
        let novelty = self.reference.as_ref().map(|r| r.nearest(design));
        if let (Some(limit), Some(d)) = (self.near_distance, novelty) {
            constraints.push(d - limit);
            violation += (d - limit).max(0.0);
        }
        Evaluated { eval: Evaluation { objectives, constraints, violation }, preds, novelty, env }
    }

    /// Everything about one point, by name, for storing and showing.
    pub fn detail(&self, x: &[f64], eval: &Evaluation) -> Detail {
        let design = self.design_of(x);
        let Evaluated { preds, novelty, env, .. } = self.evaluate_design(x, &design, true);
        let mut d = serde_json::Map::new();
        for ((name, v), levels) in self.design.iter().zip(&design).zip(&self.levels) {
            let value = if levels.is_empty() {
                json_number(*v)
            } else {
                levels.get(*v as usize).map_or(serde_json::Value::Null, |l| serde_json::Value::String(l.clone()))
            };
            d.insert(name.clone(), value);
        }
        if let Some(s) = &self.shape {
            // the shape's values close the expression values (see `env`)
            let names = s.names();
            for (name, v) in names.iter().zip(&env[env.len() - names.len()..]) {
                d.insert(name.clone(), json_number(*v));
            }
        }
        let mut objectives = serde_json::Map::new();
        for ((name, v), (_, goal)) in self.objective_names.iter().zip(&eval.objectives).zip(&self.objectives) {
            let v = if *goal == Goal::Maximize { -v } else { *v };
            objectives.insert(name.clone(), json_number(v));
        }
        let mut constraints = serde_json::Map::new();
        for (name, v) in self.constraint_names.iter().zip(&eval.constraints) {
            constraints.insert(name.clone(), json_number(*v));
        }
        let mut predictions = serde_json::Map::new();
        for (name, (mean, std)) in self.surrogate_names.iter().zip(&preds) {
            predictions
                .insert(name.clone(), serde_json::json!({ "mean": json_number(*mean), "std": json_number(*std) }));
        }
        Detail {
            design: d,
            latent: self.decoder.as_ref().map(|_| x.to_vec()),
            objectives,
            constraints,
            predictions,
            novelty,
        }
    }

    /// Maps design values given by name (an engineer's design, a measured part) to the search
    /// point; only for design-space studies.
    pub fn point_of(&self, design: &serde_json::Map<String, serde_json::Value>) -> Result<Vec<f64>, StudyError> {
        if self.decoder.is_some() {
            return Err(StudyError::new(
                "design",
                "a latent study's points are latent; tell results of asked candidates by id",
            ));
        }
        let mut x = Vec::with_capacity(self.design.len());
        for (name, levels) in self.design.iter().zip(&self.levels) {
            let v = design.get(name).ok_or_else(|| StudyError::new(format!("design.{name}"), "missing"))?;
            let value = if levels.is_empty() {
                v.as_f64()
                    .ok_or_else(|| StudyError::new(format!("design.{name}"), format!("expected a number, found {v}")))?
            } else {
                let s = v
                    .as_str()
                    .ok_or_else(|| StudyError::new(format!("design.{name}"), format!("expected a level, found {v}")))?;
                levels.iter().position(|l| l == s).ok_or_else(|| {
                    StudyError::new(format!("design.{name}"), format!("`{s}` is not one of {}", levels.join(", ")))
                })? as f64
            };
            x.push(value);
        }
        Ok(x)
    }
}

fn json_number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Standardised rows of the data's numeric columns that are also design values.
fn reference(data: &StudyData, design: &[String]) -> Option<Reference> {
    let mut idx = Vec::new();
    let mut cols = Vec::new();
    for (k, name) in design.iter().enumerate() {
        if let Some((_, v, levels)) = data.column(name) {
            if levels.is_empty() {
                idx.push(k);
                cols.push(v);
            }
        }
    }
    if idx.is_empty() {
        return None;
    }
    let stats: Vec<(f64, f64)> = cols
        .iter()
        .map(|c| {
            let f: Vec<f64> = c.iter().copied().filter(|x| x.is_finite()).collect();
            let n = f.len().max(1) as f64;
            let mean = f.iter().sum::<f64>() / n;
            let var = f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            (mean, if var > 0.0 { var.sqrt() } else { 1.0 })
        })
        .collect();
    let rows = (0..data.n_rows())
        .filter(|&r| cols.iter().all(|c| c[r].is_finite()))
        .map(|r| cols.iter().zip(&stats).map(|(c, (m, s))| (c[r] - m) / s).collect())
        .collect();
    Some(Reference { idx, mean: stats.iter().map(|s| s.0).collect(), scale: stats.iter().map(|s| s.1).collect(), rows })
}

impl Problem for Study {
    fn space(&self) -> &DesignSpace {
        &self.space
    }

    fn n_objectives(&self) -> usize {
        self.objectives.len()
    }

    fn n_constraints(&self) -> usize {
        self.constraint_names.len()
    }

    fn evaluate(&self, x: &[f64]) -> Evaluation {
        let design = self.design_of(x);
        self.evaluate_design(x, &design, false).eval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> StudyData {
        StudyData {
            columns: vec![
                ("t".into(), vec![1.0, 2.0, 3.0, 4.0], vec![]),
                ("w".into(), vec![10.0, 20.0, 30.0, f64::NAN], vec![]),
                ("alloy".into(), vec![0.0, 1.0, 1.0, 0.0], vec!["Al".into(), "steel".into()]),
            ],
        }
    }

    fn spec(v: serde_json::Value) -> StudySpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bounds_and_levels_come_from_the_data() {
        let s = spec(json!({
            "variables": [{"name": "t", "kind": "continuous"}, {"name": "w", "kind": "integer", "step": 5},
                          {"name": "alloy", "kind": "categorical"}],
            "objectives": [{"name": "mass", "expr": "t * w"}]
        }))
        .resolve(Some(&data()))
        .unwrap();
        assert_eq!((s.variables[0].lo, s.variables[0].hi), (Some(1.0), Some(4.0)));
        // the missing value is ignored
        assert_eq!((s.variables[1].lo, s.variables[1].hi), (Some(10.0), Some(30.0)));
        assert_eq!(s.variables[2].levels, vec!["Al", "steel"]);
    }

    #[test]
    fn mistakes_name_their_field() {
        let cases = [
            (
                json!({"variables": [{"name": "t", "kind": "continuous", "lo": 3, "hi": 1}], "objectives": [{"name": "a", "expr": "t"}]}),
                "variables[0].lo",
            ),
            (
                json!({"variables": [{"name": "q", "kind": "continuous"}], "objectives": [{"name": "a", "expr": "q"}]}),
                "variables[0].lo",
            ),
            (
                json!({"variables": [{"name": "t", "kind": "continuous", "step": 2}], "objectives": [{"name": "a", "expr": "t"}]}),
                "variables[0].step",
            ),
            (
                json!({"variables": [{"name": "t", "kind": "continuous"}], "objectives": [{"name": "a", "expr": "t +"}]}),
                "objectives[0].expr",
            ),
            (
                json!({"variables": [{"name": "t", "kind": "continuous"}], "objectives": [{"name": "a", "expr": "t"}, {"name": "a", "expr": "t"}]}),
                "objectives[1].name",
            ),
            (
                json!({"variables": [{"name": "t", "kind": "continuous"}], "objectives": [{"name": "a", "expr": "t"}], "constraints": [{"expr": "t"}]}),
                "constraints[0].expr",
            ),
            (json!({"variables": [{"name": "t", "kind": "continuous"}], "objectives": []}), "objectives"),
        ];
        for (v, field) in cases {
            let e = spec(v.clone()).resolve(Some(&data())).unwrap_err();
            assert_eq!(e.field, field, "{v}: {e}");
        }
        // a name that is neither a variable nor a surrogate is found when binding
        let s = spec(json!({"variables": [{"name": "t", "kind": "continuous"}], "objectives": [{"name": "a", "expr": "t * rho"}]}))
            .resolve(Some(&data()))
            .unwrap();
        let e = Study::new(&s, vec![], Some(&data()), None).err().unwrap();
        assert_eq!(e.field, "objectives[0].expr");
        assert!(e.message.contains("'rho' at 4"), "{e}");
    }

    #[test]
    fn evaluation_minimises_negated_maxima_and_sums_violations() {
        let s = spec(json!({
            "variables": [{"name": "t", "kind": "continuous", "lo": 0, "hi": 5}, {"name": "alloy", "kind": "categorical", "levels": ["Al", "steel"]}],
            "objectives": [{"name": "stiff", "expr": "t^2 + alloy", "goal": "maximize"}, {"name": "rig"}],
            "constraints": [{"name": "thin", "expr": "t <= 2"}, {"expr": "t >= 1.5"}]
        }))
        .resolve(None)
        .unwrap();
        let study = Study::new(&s, vec![], None, None).unwrap();
        assert!(!study.computable());
        let e = study.evaluate(&[3.0, 1.0]);
        assert_eq!(e.objectives[0], -10.0);
        assert!(e.objectives[1].is_nan(), "measured outside");
        assert_eq!(e.constraints, vec![1.0, 1.5]);
        assert_eq!(e.violation, 1.0);
        let e = study.evaluate(&[1.0, 0.0]);
        assert_eq!(e.violation, 0.5);
        assert!(study.evaluate(&[1.75, 0.0]).is_feasible());
        let d = study.detail(&[3.0, 1.0], &study.evaluate(&[3.0, 1.0]));
        assert_eq!(d.design["alloy"], "steel");
        assert_eq!(d.objectives["stiff"], 10.0, "shown as written, not negated");
        assert_eq!(d.constraints["thin"], 1.0);
        let back = study.point_of(&d.design).unwrap();
        assert_eq!(back, vec![3.0, 1.0]);
        let mut wrong = d.design.clone();
        wrong.insert("alloy".into(), json!("brass"));
        assert_eq!(study.point_of(&wrong).unwrap_err().field, "design.alloy");
    }

    #[test]
    fn novelty_is_zero_on_a_data_row_and_limits_feasibility() {
        let s = spec(json!({
            "variables": [{"name": "t", "kind": "continuous", "lo": 0, "hi": 10}, {"name": "w", "kind": "continuous", "lo": 0, "hi": 50}],
            "objectives": [{"name": "a", "expr": "t"}],
            "near_data": {"max_distance": 1.0}
        }))
        .resolve(Some(&data()))
        .unwrap();
        let study = Study::new(&s, vec![], Some(&data()), None).unwrap();
        let on_row = study.evaluate(&[2.0, 20.0]);
        assert!(on_row.is_feasible());
        assert_eq!(study.detail(&[2.0, 20.0], &on_row).novelty, Some(0.0));
        // far from every row (t sd ≈ 0.82 over the three complete rows, w sd ≈ 8.2)
        let far = study.evaluate(&[9.0, 45.0]);
        assert!(!far.is_feasible());
        assert!(far.violation > 1.0, "{far:?}");
    }
}
