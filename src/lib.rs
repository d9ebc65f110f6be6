//! harness: which inference engine runs my network fastest on this machine, and does it still compute
//! the same answer?
//!
//! Data flows one way: [`scenario`] → [`plan`] → [`run`] (which [`measure`]s each plan in a worker) →
//! [`record`] → [`analysis`] → [`export`] → [`report`]. [`results`] reads results folders back for
//! [`report`], [`compare`] and [`profile`]. ARCHITECTURE.md draws the whole picture.

pub mod analysis;
pub mod backends;
pub mod compare;
pub mod export;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod fleet;
pub mod inputs;
pub mod inspect;
pub mod interrupt;
pub mod key;
pub mod machine;
pub mod measure;
pub mod model_info;
pub mod plan;
pub mod profile;
pub mod record;
pub mod remote;
pub mod report;
pub mod results;
mod rng;
pub mod run;
pub mod scenario;
pub mod stdout;
