//! harness: which inference engine runs my network fastest on this machine, and does it still compute
//! the same answer?
//!
//! Data flows one way: [`scenario`] → [`plan`] → [`measure`] (via [`execute`]) → [`record`] →
//! [`analysis`] → [`export`] → [`report`]. [`results`] reads results folders back for [`report`] and
//! [`compare`].

pub mod analysis;
pub mod backends;
pub mod compare;
pub mod execute;
pub mod export;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod inputs;
pub mod interrupt;
pub mod isolation;
pub mod measure;
pub mod model_info;
pub mod pipeline;
pub mod plan;
pub mod record;
pub mod report;
pub mod results;
mod rng;
pub mod scenario;
pub mod target;
