//! The engines compiled into this build, each behind its cargo feature.

use harness_backend_api::{Backend, BackendInfo};

/// Every backend compiled into this binary.
pub fn compiled_in() -> Vec<Box<dyn Backend>> {
    vec![
        #[cfg(feature = "opencv")]
        Box::new(harness_backend_opencv::OpencvBackend),
        #[cfg(feature = "ort")]
        Box::new(harness_backend_ort::OrtBackend),
        #[cfg(feature = "tflite")]
        Box::new(harness_backend_tflite::TfliteBackend),
        #[cfg(feature = "tract")]
        Box::new(harness_backend_tract::TractBackend),
    ]
}

pub fn infos(backends: &[Box<dyn Backend>]) -> Vec<BackendInfo> {
    backends.iter().map(|b| b.info()).collect()
}
