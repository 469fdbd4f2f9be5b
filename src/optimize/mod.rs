//! Design optimisation numerics, pure and synchronous like `ml` (no IO, no async, no SQL):
//! objective and constraint expressions, Pareto tools, benchmark functions and space-filling designs.

pub mod bo;
pub mod expr;
pub mod pareto;
pub mod problem;
pub mod sampling;
pub mod solvers;
pub mod study;
pub mod surrogate;
pub mod testfns;

pub use expr::{Compiled, Constraint, ConstraintKind, Expr, ExprError};
pub use pareto::{crowding_distance, hypervolume, hypervolume_2d, non_dominated_sort, pareto_front, Fronts};
pub use sampling::{DesignSpace, Dimension, SamplingError};
pub use solvers::{
    benchmark, run, suggest, BenchRow, Candidate, RunConfig, RunObserver, RunOutcome, SolverError, SolverKind,
};
pub use surrogate::{CvScore, Prediction, Surrogate, SurrogateError, SurrogateKind, SurrogateSpec};
pub use testfns::TestFunction;
