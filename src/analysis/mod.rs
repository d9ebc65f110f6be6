//! Analysis of measured data, kept apart from measuring (as criterion does) so that it can be tested on
//! known samples: latency statistics and their validity, the agreement of outputs between engines, whether a
//! measurement changed between runs, and the operator classes of a profile's nodes.

pub mod change;
pub mod evidence;
pub mod operators;
pub mod parity;
mod timing;

pub use timing::{
    assess, count_outliers, median_interval, percentile, summarize, Summary, Validity, Verdict,
};
