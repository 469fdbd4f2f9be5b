//! Design optimisation numerics, pure and synchronous like `ml` (no IO, no async, no SQL):
//! objective and constraint expressions, Pareto tools, benchmark functions and space-filling designs.

pub mod expr;
pub mod pareto;
pub mod sampling;
pub mod testfns;

pub use expr::{Compiled, Constraint, ConstraintKind, Expr, ExprError};
pub use pareto::{crowding_distance, hypervolume, hypervolume_2d, non_dominated_sort, pareto_front, Fronts};
pub use sampling::{DesignSpace, Dimension, SamplingError};
pub use testfns::TestFunction;
