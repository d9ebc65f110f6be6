//! The engines compiled into this build, each behind its cargo feature, and a stand-in for each one left
//! out (a cross-built bundle may lack one): scenarios that name it still check, and its rows say why it
//! did not run.

use harness_backend_api::{
    Backend, BackendError, BackendInfo, LoadOptions, ModelFormat, Session, KNOWN_ENGINES,
};
use std::path::Path;

/// Every backend of this binary: the compiled-in engines, then a stand-in for each engine left out.
pub fn compiled_in() -> Vec<Box<dyn Backend>> {
    #[allow(unused_mut)]
    let mut backends: Vec<Box<dyn Backend>> = vec![
        #[cfg(feature = "candle")]
        Box::new(harness_backend_candle::CandleBackend),
        #[cfg(feature = "mnn")]
        Box::new(harness_backend_mnn::MnnBackend),
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
    let left_out: Vec<Box<dyn Backend>> = KNOWN_ENGINES
        .iter()
        .filter(|(name, _)| !backends.iter().any(|b| b.name() == *name))
        .map(|&(name, formats)| Box::new(NotBuilt { name, formats }) as Box<dyn Backend>)
        .collect();
    backends.extend(left_out);
    #[cfg(feature = "fault-injection")]
    backends.extend(
        crate::fault::all()
            .into_iter()
            .map(|b| Box::new(b) as Box<dyn Backend>),
    );
    backends
}

/// The backend named `name`; scenarios only name compiled-in backends or their stand-ins.
pub fn find<'a>(backends: &'a [Box<dyn Backend>], name: &str) -> &'a dyn Backend {
    backends
        .iter()
        .find(|b| b.name() == name)
        .map(|b| b.as_ref())
        .expect("scenarios only name known backends")
}

pub fn infos(backends: &[Box<dyn Backend>]) -> Vec<BackendInfo> {
    backends.iter().map(|b| b.info()).collect()
}

/// An engine this binary was built without: every load is refused with the reason.
struct NotBuilt {
    name: &'static str,
    formats: &'static [ModelFormat],
}

impl NotBuilt {
    fn reason(&self) -> String {
        format!(
            "this harness binary was built without it (cargo feature `{}`; built for {})",
            self.name,
            env!("HARNESS_TARGET")
        )
    }
}

impl Backend for NotBuilt {
    fn name(&self) -> &'static str {
        self.name
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.name.to_string(),
            engine_version: "not built".to_string(),
            formats: self.formats.to_vec(),
            runtime: Err(self.reason()),
            threads_note: String::new(),
            options: None,
        }
    }

    fn load(
        &self,
        _model: &Path,
        _format: ModelFormat,
        _options: &LoadOptions,
    ) -> Result<Box<dyn Session>, BackendError> {
        Err(BackendError::Unsupported {
            engine: self.name.to_string(),
            what: format!("running in this binary: {}", self.reason()),
        })
    }
}
