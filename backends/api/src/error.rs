use thiserror::Error;

/// Why an engine could not do what it was asked. The message says which engine and why.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The engine cannot do this at all (format, element type, option): not a fault of the model.
    #[error("{engine} does not support {what}")]
    Unsupported { engine: String, what: String },
    /// The engine rejected the model, or its runtime failed to load it.
    #[error("{engine} could not load {path}: {reason}")]
    Load {
        engine: String,
        path: String,
        reason: String,
    },
    /// The inputs do not fit the model.
    #[error("{engine}: {reason}")]
    Input { engine: String, reason: String },
    /// The engine failed while running.
    #[error("{engine} failed to run: {reason}")]
    Run { engine: String, reason: String },
    /// A scenario option the engine does not know or cannot parse.
    #[error("{engine}: {reason}")]
    Option { engine: String, reason: String },
}

impl BackendError {
    /// The engine failed while running.
    pub fn run(engine: &str, reason: impl std::fmt::Display) -> BackendError {
        BackendError::Run {
            engine: engine.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The inputs do not fit the model, or cannot be converted for the engine.
    pub fn input(engine: &str, reason: impl std::fmt::Display) -> BackendError {
        BackendError::Input {
            engine: engine.to_string(),
            reason: reason.to_string(),
        }
    }

    /// The engine cannot do `what` at all.
    pub fn unsupported(engine: &str, what: impl std::fmt::Display) -> BackendError {
        BackendError::Unsupported {
            engine: engine.to_string(),
            what: what.to_string(),
        }
    }
}
