//! harness: which inference engine runs my network fastest on this machine, and does it still compute
//! the same answer?
//!
//! Data flows one way: [`scenario`] → [`plan`] → [`measure`] (via [`execute`]) → [`record`] →
//! [`analysis`] → [`export`].

pub mod analysis;
pub mod backends;
pub mod execute;
pub mod export;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod inputs;
pub mod interrupt;
pub mod isolation;
pub mod measure;
pub mod pipeline;
pub mod plan;
pub mod record;
mod rng;
pub mod scenario;
