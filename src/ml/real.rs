//! The float type the numerics are generic over.
//!
//! Training and inference run in f32 (half the memory traffic, twice the SIMD width); the gradient
//! checks run the *same* generic code in f64, where central differences are accurate to ~1e-8.
//! Keeping one generic path (rather than a separate f64 copy for tests) means the code the tests
//! check is the code that trains.

use ndarray::NdFloat;

/// f32 or f64: everything the layers, loss and optimiser need.
pub trait Real: NdFloat + Default + std::iter::Sum + 'static {
    /// Converts a constant.
    fn cst(x: f64) -> Self;
    /// Widens to f64 for reporting.
    fn as_f64(self) -> f64;
}

impl Real for f32 {
    #[inline]
    fn cst(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    #[inline]
    fn cst(x: f64) -> Self {
        x
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
}
