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
