//! The engines compiled into this build, each behind its cargo feature.

use harness_backend_api::{Backend, BackendInfo};

/// Every backend compiled into this binary.
pub fn compiled_in() -> Vec<Box<dyn Backend>> {
    #[allow(unused_mut)]
    let mut backends: Vec<Box<dyn Backend>> = vec![
        #[cfg(feature = "candle")]
        Box::new(harness_backend_candle::CandleBackend),
        #[cfg(feature = "ncnn")]
        Box::new(harness_backend_ncnn::NcnnBackend),
        #[cfg(feature = "opencv")]
        Box::new(harness_backend_opencv::OpencvBackend),
        #[cfg(feature = "openvino")]
        Box::new(harness_backend_openvino::OpenvinoBackend),
        #[cfg(feature = "ort")]
        Box::new(harness_backend_ort::OrtBackend),
        #[cfg(feature = "tflite")]
        Box::new(harness_backend_tflite::TfliteBackend),
        #[cfg(feature = "tract")]
        Box::new(harness_backend_tract::TractBackend),
    ];
    #[cfg(feature = "fault-injection")]
    backends.extend(
        crate::fault::all()
            .into_iter()
            .map(|b| Box::new(b) as Box<dyn Backend>),
    );
    backends
}

pub fn infos(backends: &[Box<dyn Backend>]) -> Vec<BackendInfo> {
    backends.iter().map(|b| b.info()).collect()
}
