//! What a solver searches, in one shape for every solver: the unit cube `[0, 1]^d` mapped onto a
//! [`DesignSpace`], and an evaluation that returns objectives (always to be minimised; a maximised
//! objective is negated by whoever builds the problem) and the amount each constraint is violated.
//!
//! Solvers see only unit points, so a design space with integer steps and categories, a latent
//! box of a VAE, and a benchmark function all look the same to them.

use super::sampling::DesignSpace;

/// The outcome of evaluating one point.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Objective values in minimisation form, one per objective.
    pub objectives: Vec<f64>,
    /// The value of each constraint's left-hand side (for reports; `NaN` where it could not be computed).
    pub constraints: Vec<f64>,
    /// Total violation of all constraints: 0 means feasible, larger means further from feasible.
    pub violation: f64,
}

impl Evaluation {
    /// An unconstrained evaluation.
    pub fn unconstrained(objectives: Vec<f64>) -> Evaluation {
        Evaluation { objectives, constraints: Vec::new(), violation: 0.0 }
    }

    pub fn is_feasible(&self) -> bool {
        self.violation <= 0.0
    }
}

/// A problem a solver can search.
pub trait Problem: Sync {
    /// The space the unit cube maps onto.
    fn space(&self) -> &DesignSpace;

    /// How many objectives [`Problem::evaluate`] returns.
    fn n_objectives(&self) -> usize;

    /// How many constraints [`Problem::evaluate`] returns.
    fn n_constraints(&self) -> usize {
        0
    }

    /// Evaluates design values (already decoded from the unit cube by `space().decode`).
    fn evaluate(&self, x: &[f64]) -> Evaluation;
}

/// A single-objective, unconstrained problem from a plain function over a space.
pub struct FnProblem<F> {
    pub space: DesignSpace,
    pub f: F,
}

impl<F: Fn(&[f64]) -> f64 + Sync> Problem for FnProblem<F> {
    fn space(&self) -> &DesignSpace {
        &self.space
    }

    fn n_objectives(&self) -> usize {
        1
    }

    fn evaluate(&self, x: &[f64]) -> Evaluation {
        Evaluation::unconstrained(vec![(self.f)(x)])
    }
}
