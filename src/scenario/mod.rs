//! Scenario files: what to measure, read from TOML and checked before anything runs.
//!
//! Every error names the file, the line and column, and the field, so that a user can go straight to it.

mod files;
pub mod from_models;
mod overrides;
mod syntax;
mod targets;

pub use files::ScenarioFile;
pub use overrides::Overrides;
pub use targets::{check_printable, first_repeat, FleetConfig, RemoteConfig};

use crate::analysis::parity::ParityRules;
use crate::inputs::{InputDescription, InputSource, Preprocess, Quantization};
use crate::machine::Access;
use crate::measure::MeasureRules;
use harness_backend_api::{BackendInfo, EngineOptions, ModelFormat};
use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A scenario that parsed and passed every check; paths are resolved against the scenario's folder.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub path: PathBuf,
    /// The file's text, copied into the results folder as it was.
    pub source: String,
    pub name: String,
    pub description: String,
    pub output_dir: PathBuf,
    /// The name rows are tagged with, instead of the host name (`harness run --device`).
    pub device: Option<String>,
    /// How this machine was reached (`local` unless another harness drives the run).
    pub target: Access,
    /// An earlier results folder whose measurements this run does not repeat (`run --resume`).
    pub resume_from: Option<PathBuf>,
    /// The terminal gets every round's row and parity line, not only the short answer (`run --verbose`).
    pub verbose: bool,
    /// Targets defined in the scenario (`[targets.NAME]`), found before those of targets files.
    pub targets: IndexMap<String, RemoteConfig>,
    /// Fleets defined in the scenario (`[fleets.NAME]`), found before those of targets files.
    pub fleets: IndexMap<String, FleetConfig>,
    pub models: Vec<Model>,
    pub inputs: InputSource,
    pub backends: Vec<BackendRequest>,
    pub threads: Vec<usize>,
    pub measure: MeasureRules,
    pub parity: ParityRules,
}

impl Scenario {
    /// A hash of what decides how each measurement is made: the models (names, the bytes of their files,
    /// their inputs and preprocessing), the input source and the measurement and parity rules. Which engines
    /// and thread counts run is left out: a resumed run may add some. Two runs with the same fingerprint
    /// measure comparable rows, so one may resume the other.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for model in &self.models {
            // An npy file counts by its contents, hashed below, not by where it is (a target's job moves it).
            let inputs: Vec<InputDescription> = model
                .inputs
                .iter()
                .map(|input| InputDescription {
                    npy: None,
                    ..input.clone()
                })
                .collect();
            hash.update(format!(
                "{}|{:?}|{:?}|{}|{}|{:?}\n",
                model.name,
                inputs,
                model.preprocess,
                model.classifier,
                model.quantized,
                model.baseline
            ));
            for (format, file) in &model.files {
                hash.update(format.as_str());
                // An unreadable file hashes as empty: the run says why when it loads it.
                hash.update(std::fs::read(file).unwrap_or_default());
            }
        }
        for file in self.files() {
            if let ScenarioFile::Npy { path, .. } = file {
                hash.update(file.field());
                for data in files::contents(path) {
                    hash.update(data);
                }
            }
        }
        // Profiling adds a pass after each measurement and changes none: a profiled run resumes an unprofiled one.
        let measure = MeasureRules {
            profile: false,
            ..self.measure.clone()
        };
        hash.update(format!("{:?}|{:?}|{:?}", self.inputs, measure, self.parity));
        format!("{:x}", hash.finalize())[..16].to_string()
    }

    /// The position of the model `name` in `models`; plans only name the scenario's own models.
    pub fn model_index(&self, name: &str) -> usize {
        self.models
            .iter()
            .position(|m| m.name == name)
            .expect("plans come from the scenario's models")
    }
}

#[derive(Clone, Debug)]
pub struct Model {
    pub name: String,
    pub files: BTreeMap<ModelFormat, PathBuf>,
    /// One per model input the scenario describes, named (`[models.inputs.NAME]`) or the single unnamed
    /// `[models.input]`.
    pub inputs: Vec<InputDescription>,
    pub preprocess: Option<Preprocess>,
    /// Class names, one per line (index = line number − 1).
    pub labels: Option<PathBuf>,
    /// Whether the first output holds class scores (top-1/top-5 agreement, predictions).
    pub classifier: bool,
    /// The model this one is a variant of (a technique study): its answers are checked against the baseline's
    /// reference outputs on the same inputs, and reports show its speed-up over the baseline.
    pub baseline: Option<String>,
    /// The model computes in reduced precision (e.g. int8 weights and activations behind float inputs and
    /// outputs): its parity is judged with the looser thresholds.
    pub quantized: bool,
    /// Whether outputs are checked (against the reference, or a variant's baseline). A variant that is a
    /// different network (the depthwise-separable study) says `compare_answers = false`.
    pub compare_answers: bool,
    /// How integer outputs map to real values (`output_quantization = { scale, zero_point }`): they are
    /// dequantized before they are compared and listed.
    pub output_quantization: Option<Quantization>,
}

#[derive(Clone, Debug)]
pub struct BackendRequest {
    /// The name rows carry: the table's key, e.g. `ort` or `ort-unoptimised`.
    pub name: String,
    /// The compiled-in backend that runs it: `engine = "..."`, or the name itself.
    pub engine: String,
    pub formats: Vec<ModelFormat>,
    pub options: EngineOptions,
}

/// Why a scenario was refused: file, position, field and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column, when the fault has a place in the file.
    pub position: Option<(usize, usize)>,
    /// The dotted path of the field, e.g. `measure.min_runs` or `models[0].onnx`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    output: Option<String>,
    threads: Spanned<Vec<usize>>,
    models: Spanned<Vec<RawModel>>,
    inputs: InputSource,
    backends: Spanned<IndexMap<String, Spanned<RawBackend>>>,
    #[serde(default)]
    measure: MeasureRules,
    #[serde(default)]
    parity: ParityRules,
    #[serde(default)]
    targets: IndexMap<String, RemoteConfig>,
    #[serde(default)]
    fleets: IndexMap<String, FleetConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    onnx: Option<Spanned<String>>,
    tflite: Option<Spanned<String>>,
    input: Option<Spanned<InputDescription>>,
    inputs: Option<IndexMap<String, Spanned<InputDescription>>>,
    preprocess: Option<Preprocess>,
    labels: Option<Spanned<String>>,
    /// Default: true when `labels` is given.
    classifier: Option<bool>,
    baseline: Option<Spanned<String>>,
    #[serde(default)]
    quantized: bool,
    compare_answers: Option<bool>,
    output_quantization: Option<Quantization>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    /// Which compiled-in backend runs this entry; lets one engine appear twice with different options.
    engine: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<ModelFormat>>>,
    #[serde(default)]
    options: BTreeMap<String, toml::Value>,
}

/// The scenario `paths` name: a scenario file, or the model files of one network, measured by a scenario
/// written for them (see [`from_models`]), as if it were a file `<model>.toml` in the current folder.
pub fn load_or_write(
    paths: &[PathBuf],
    request: from_models::ModelRequest,
    available: &[BackendInfo],
) -> anyhow::Result<Scenario> {
    if let [path] = paths {
        if from_models::model_format(path).is_none() {
            return Ok(load(path, available)?);
        }
    }
    let request = from_models::ModelRequest {
        files: paths.to_vec(),
        ..request
    };
    let text = from_models::write(&request, available)?;
    let stem = paths[0]
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let path = std::env::current_dir()?.join(format!("{stem}.toml"));
    Ok(parse(&path, text, available)?)
}

/// Reads and checks a scenario file against the backends compiled into this build.
pub fn load(path: &Path, available: &[BackendInfo]) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        position: None,
        field: String::new(),
        message: format!("cannot read the scenario file: {e}"),
    })?;
    parse(path, source, available)
}

/// Parses and checks scenario text; `path` names the file in errors and anchors relative paths.
pub fn parse(
    path: &Path,
    source: String,
    available: &[BackendInfo],
) -> Result<Scenario, ScenarioError> {
    let checker = Checker {
        path,
        source: &source,
    };
    let raw: RawScenario = checker.deserialize()?;
    let base = path.parent().unwrap_or(Path::new("."));
    let scenario = Scenario {
        path: path.to_path_buf(),
        name: checker.name(&raw.name)?,
        description: raw.description.clone(),
        output_dir: base.join(raw.output.as_deref().unwrap_or("results")),
        device: None,
        target: Access::Local,
        resume_from: None,
        verbose: false,
        targets: checker.named_tables(
            "targets",
            &raw.targets,
            RemoteConfig::check_from_scenario,
        )?,
        fleets: checker.named_tables("fleets", &raw.fleets, FleetConfig::check)?,
        models: checker.models(&raw.models, base, sets_of_inputs(&raw.inputs))?,
        inputs: InputSource {
            images: raw.inputs.images.as_ref().map(|folder| base.join(folder)),
            ..raw.inputs.clone()
        },
        backends: checker.backends(&raw.backends, &raw.models, available)?,
        threads: checker.threads(&raw.threads)?,
        measure: raw.measure.clone(),
        parity: raw.parity.clone(),
        source: String::new(),
    };
    checker.measure(&scenario.measure)?;
    checker.inputs(
        &scenario.inputs,
        &scenario.models,
        scenario.measure.end_to_end,
    )?;
    checker.parity(&scenario.parity, &scenario.backends, available)?;
    Ok(Scenario { source, ..scenario })
}

/// Why `path` cannot be the model file of `format`, when its first bytes already say so: a folder, or a file of
/// the other format. Anything else (an empty or damaged file) is left to `check`'s reading of the file and to the
/// engines, whose rows say why they refuse it.
fn model_file_problem(path: &Path, format: ModelFormat) -> Option<String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read the model file {}: {e}", path.display());
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return Some(cannot(e)),
    };
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Some(format!("{} is a folder, not a model file", path.display()));
    }
    let mut head = Vec::new();
    if let Err(e) = file.by_ref().take(8).read_to_end(&mut head) {
        return Some(cannot(e));
    }
    // A TFLite file is a FlatBuffer with the identifier TFL3 at byte 4; an ONNX file is a protobuf message whose
    // first field is normally ir_version (tag byte 0x08).
    let tflite = head.get(4..8) == Some(b"TFL3");
    match (format, head.first()) {
        (ModelFormat::Onnx, _) if tflite => Some(format!(
            "{} is a TFLite file (its header holds the identifier TFL3), not ONNX: give it as `tflite = ...`",
            path.display()
        )),
        (ModelFormat::Tflite, Some(0x08)) if !tflite => Some(format!(
            "{} is not a TFLite file (no TFL3 identifier at byte 4) and starts as an ONNX file does: give it as \
             `onnx = ...`",
            path.display()
        )),
        _ => None,
    }
}

/// How many sets of inputs the scenario makes (random sets; an image folder's size is not known here, and its
/// images are bounded by their preprocessing).
fn sets_of_inputs(source: &InputSource) -> usize {
    source
        .random
        .as_ref()
        .map_or(1, |random| random.count.max(1))
}

struct Checker<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Checker<'_> {
    /// `[targets.NAME]` or `[fleets.NAME]` tables, each checked by `check`.
    fn named_tables<T: Clone>(
        &self,
        key: &str,
        tables: &IndexMap<String, T>,
        check: impl Fn(&T) -> Result<(), (&'static str, String)>,
    ) -> Result<IndexMap<String, T>, ScenarioError> {
        for (name, table) in tables {
            if let Err(message) = check_printable(&format!("the name of [{key}]"), name) {
                return Err(self.error(find_key(self.source, key, name), key, message));
            }
            if let Err((field, message)) = check(table) {
                return Err(self.error(
                    find_key(self.source, key, name),
                    &format!("{key}.{name}.{field}"),
                    message,
                ));
            }
        }
        Ok(tables.clone())
    }

    fn error(&self, span: Option<Range<usize>>, field: &str, message: String) -> ScenarioError {
        ScenarioError {
            file: self.path.to_path_buf(),
            position: span.map(|s| line_column(self.source, s.start)),
            field: field.to_string(),
            message,
        }
    }

    fn deserialize(&self) -> Result<RawScenario, ScenarioError> {
        let deserializer = toml::de::Deserializer::parse(self.source).map_err(|e| {
            let message = e.message().trim_end().to_string();
            let Some(span) = e.span() else {
                return self.error(None, "", message);
            };
            // Past a value left open, the parser stops somewhere later: the place to mend is where it opened.
            match syntax::never_closed(self.source, span.start) {
                Some(open) => {
                    let (line, column) = line_column(self.source, span.start);
                    let field = syntax::field_at(self.source, open.key.start);
                    let message = format!(
                        "this {} is never closed (the parser stopped at {line}:{column}: {message})",
                        open.what
                    );
                    self.error(Some(open.key), &field, message)
                }
                None => {
                    let field = syntax::field_at(self.source, span.start);
                    self.error(Some(span), &field, message)
                }
            }
        })?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            // `Spanned` wrappers show up in the path as a private field name: leave them out.
            let field = e
                .path()
                .to_string()
                .replace(".$__serde_spanned_private_value", "");
            let inner = e.into_inner();
            let field = if field == "." { String::new() } else { field };
            self.error(inner.span(), &field, inner.message().to_string())
        })
    }

    fn models(
        &self,
        raw: &Spanned<Vec<RawModel>>,
        base: &Path,
        sets: usize,
    ) -> Result<Vec<Model>, ScenarioError> {
        if raw.get_ref().is_empty() {
            return Err(self.error(Some(raw.span()), "models", "lists no model".into()));
        }
        let mut names = Vec::new();
        raw.get_ref()
            .iter()
            .enumerate()
            .map(|(i, model)| {
                if names.contains(&model.name) {
                    return Err(self.error(
                        Some(raw.span()),
                        &format!("models[{i}].name"),
                        format!("the model name `{}` is used twice", model.name),
                    ));
                }
                names.push(model.name.clone());
                check_printable("the model name", &model.name)
                    .map_err(|m| self.error(Some(raw.span()), &format!("models[{i}].name"), m))?;
                let mut files = BTreeMap::new();
                for (format, file) in [
                    (ModelFormat::Onnx, &model.onnx),
                    (ModelFormat::Tflite, &model.tflite),
                ] {
                    if let Some(file) = file {
                        let resolved = base.join(file.get_ref());
                        let field = format!("models[{i}].{format}");
                        model_file_problem(&resolved, format).map_or(Ok(()), |why| {
                            Err(self.error(Some(file.span()), &field, why))
                        })?;
                        files.insert(format, resolved);
                    }
                }
                if files.is_empty() {
                    return Err(self.error(
                        Some(raw.span()),
                        &format!("models[{i}]"),
                        format!(
                            "model `{}` names no file: give `onnx`, `tflite` or both",
                            model.name
                        ),
                    ));
                }
                let inputs =
                    match (&model.input, &model.inputs) {
                        (Some(input), None) => vec![(format!("models[{i}].input"), input.clone())],
                        (None, Some(inputs)) if !inputs.is_empty() => inputs
                            .iter()
                            .map(|(name, input)| {
                                let described = InputDescription {
                                    name: Some(name.clone()),
                                    ..input.get_ref().clone()
                                };
                                let spanned = Spanned::new(input.span(), described);
                                (format!("models[{i}].inputs.{name}"), spanned)
                            })
                            .collect(),
                        (Some(_), Some(_)) => {
                            return Err(self.error(
                                Some(raw.span()),
                                &format!("models[{i}].inputs"),
                                "give either `[models.input]` (a model with one input) or \
                             `[models.inputs.NAME]` tables, not both"
                                    .into(),
                            ))
                        }
                        (None, _) => return Err(self.error(
                            Some(raw.span()),
                            &format!("models[{i}].input"),
                            "describe the model's input: `[models.input]` with its shape, or a \
                             `[models.inputs.NAME]` table for each input"
                                .into(),
                        )),
                    };
                for (field, input) in &inputs {
                    let described = input.get_ref();
                    described
                        .name
                        .as_deref()
                        .map_or(Ok(()), |name| check_printable("the input name", name))
                        .and_then(|()| described.check())
                        .map_err(|m| self.error(Some(input.span()), field, m))?;
                }
                self.fits_in_memory(&inputs, sets)?;
                let labels = match &model.labels {
                    Some(file) => {
                        let resolved = base.join(file.get_ref());
                        std::fs::File::open(&resolved).map_err(|e| {
                            self.error(
                                Some(file.span()),
                                &format!("models[{i}].labels"),
                                format!("cannot read the labels file {}: {e}", resolved.display()),
                            )
                        })?;
                        Some(resolved)
                    }
                    None => None,
                };
                Ok(Model {
                    name: model.name.clone(),
                    files,
                    inputs: inputs
                        .into_iter()
                        .map(|(_, input)| {
                            let input = input.into_inner();
                            InputDescription {
                                npy: input.npy.as_ref().map(|path| base.join(path)),
                                ..input
                            }
                        })
                        .collect(),
                    preprocess: model.preprocess.clone(),
                    classifier: model.classifier.unwrap_or(labels.is_some()),
                    labels,
                    baseline: model.baseline.as_ref().map(|b| b.get_ref().clone()),
                    quantized: model.quantized,
                    compare_answers: model.compare_answers.unwrap_or(true),
                    output_quantization: model.output_quantization,
                })
            })
            .collect::<Result<Vec<Model>, ScenarioError>>()
            .and_then(|models| self.check_baselines(raw, models))
    }

    /// A model's inputs, as many sets as the scenario makes, must fit in this machine's memory: refused before
    /// anything is allocated (an allocation that fails aborts the process).
    fn fits_in_memory(
        &self,
        inputs: &[(String, Spanned<InputDescription>)],
        sets: usize,
    ) -> Result<(), ScenarioError> {
        let Some(memory) = crate::machine::memory_bytes() else {
            return Ok(());
        };
        let gb = |bytes: u64| bytes as f64 / 1e9;
        let mut total = 0u64;
        for (field, input) in inputs {
            let described = input.get_ref();
            // `check` has made sure each tensor's size is countable.
            let bytes = described.tensor_bytes().unwrap_or(u64::MAX);
            total = total.saturating_add(bytes.saturating_mul(sets as u64));
            if total > memory {
                return Err(self.error(
                    Some(input.span()),
                    &format!("{field}.shape"),
                    format!(
                        "{} of shape {:?} ({}) takes {:.1} GB a set, and the inputs of {sets} set{} take {:.1} GB \
                         or more: more than this machine's memory ({:.1} GB)",
                        described.label(),
                        described.shape,
                        described.element_type,
                        gb(bytes),
                        if sets == 1 { "" } else { "s" },
                        gb(total),
                        gb(memory)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A variant names another model of the scenario, which is not itself a variant.
    fn check_baselines(
        &self,
        raw: &Spanned<Vec<RawModel>>,
        models: Vec<Model>,
    ) -> Result<Vec<Model>, ScenarioError> {
        for (i, (model, raw_model)) in models.iter().zip(raw.get_ref()).enumerate() {
            let (Some(name), Some(spanned)) = (&model.baseline, &raw_model.baseline) else {
                continue;
            };
            let field = format!("models[{i}].baseline");
            let message = match models.iter().find(|m| &m.name == name) {
                None => format!("names `{name}`, which is not a model of this scenario"),
                Some(m) if m.name == model.name => "names the model itself".to_string(),
                Some(m) if m.baseline.is_some() => format!(
                    "names `{name}`, which is itself a variant of `{}`: name that one",
                    m.baseline.as_deref().unwrap_or_default()
                ),
                Some(_) => continue,
            };
            return Err(self.error(Some(spanned.span()), &field, message));
        }
        Ok(models)
    }

    fn backends(
        &self,
        raw: &Spanned<IndexMap<String, Spanned<RawBackend>>>,
        models: &Spanned<Vec<RawModel>>,
        available: &[BackendInfo],
    ) -> Result<Vec<BackendRequest>, ScenarioError> {
        if raw.get_ref().is_empty() {
            return Err(self.error(
                Some(raw.span()),
                "backends",
                "lists no backend: add a table such as [backends.tract]".into(),
            ));
        }
        raw.get_ref()
            .iter()
            .map(|(name, request)| {
                let field = format!("backends.{name}");
                check_printable("the backend entry", name)
                    .map_err(|m| self.error(Some(request.span()), &field, m))?;
                let (engine, span, engine_field) = match &request.get_ref().engine {
                    Some(engine) => (
                        engine.get_ref().clone(),
                        engine.span(),
                        format!("{field}.engine"),
                    ),
                    None => (name.clone(), request.span(), field.clone()),
                };
                let info = available.iter().find(|b| b.name == engine).ok_or_else(|| {
                    let known: Vec<&str> = available.iter().map(|b| b.name.as_str()).collect();
                    self.error(
                        Some(span),
                        &engine_field,
                        format!(
                            "no backend `{engine}` is compiled into this build (available: {})",
                            known.join(", ")
                        ),
                    )
                })?;
                let formats = match &request.get_ref().formats {
                    Some(formats) => {
                        let field = format!("{field}.formats");
                        if formats.get_ref().is_empty() {
                            return Err(self.error(
                                Some(formats.span()),
                                &field,
                                "lists no format".into(),
                            ));
                        }
                        if let Some(f) =
                            formats.get_ref().iter().find(|f| !info.formats.contains(f))
                        {
                            return Err(self.error(
                                Some(formats.span()),
                                &field,
                                format!("{name} does not read {f} models"),
                            ));
                        }
                        if let Some(f) = formats
                            .get_ref()
                            .iter()
                            .find(|&&f| !models.get_ref().iter().any(|m| m.file(f).is_some()))
                        {
                            return Err(self.error(
                                Some(formats.span()),
                                &field,
                                format!("no model in this scenario has a {f} file"),
                            ));
                        }
                        formats.get_ref().clone()
                    }
                    None => vec![default_format(info)],
                };
                if let Some(known) = &info.options {
                    if let Some(unknown) = request
                        .get_ref()
                        .options
                        .keys()
                        .find(|key| !known.contains(key))
                    {
                        let allowed = if known.is_empty() {
                            "it takes none".to_string()
                        } else {
                            format!("it takes {}", known.join(", "))
                        };
                        return Err(self.error(
                            Some(request.span()),
                            &format!("{field}.options.{unknown}"),
                            format!("{} has no option `{unknown}` ({allowed})", info.name),
                        ));
                    }
                }
                let options = request
                    .get_ref()
                    .options
                    .iter()
                    .map(|(k, v)| {
                        let text = match v {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect();
                Ok(BackendRequest {
                    name: name.clone(),
                    engine,
                    formats,
                    options: EngineOptions(options),
                })
            })
            .collect()
    }

    /// The name becomes part of the results folder's name (after a 16-character time stamp), which must
    /// fit the 255 bytes a file name may have.
    fn name(&self, raw: &Spanned<String>) -> Result<String, ScenarioError> {
        const LONGEST: usize = 200;
        let name = raw.get_ref();
        let length = crate::export::folder::slug(name).len();
        if name.trim().is_empty() || length > LONGEST {
            return Err(self.error(
                Some(raw.span()),
                "name",
                format!(
                    "must be 1 to {LONGEST} characters: it names the results folders (this one has {length})"
                ),
            ));
        }
        check_printable("the scenario name", name)
            .map_err(|m| self.error(Some(raw.span()), "name", m))?;
        Ok(name.clone())
    }

    fn threads(&self, raw: &Spanned<Vec<usize>>) -> Result<Vec<usize>, ScenarioError> {
        let threads = raw.get_ref();
        if let Some(problem) = thread_counts_problem(threads) {
            return Err(self.error(Some(raw.span()), "threads", format!("must {problem}")));
        }
        Ok(threads.clone())
    }

    fn measure(&self, rules: &MeasureRules) -> Result<(), ScenarioError> {
        rules.check().map_err(|(field, message)| {
            let span = find_key(self.source, "measure", field);
            self.error(span, &format!("measure.{field}"), message)
        })
    }

    fn inputs(
        &self,
        source: &InputSource,
        models: &[Model],
        measure_end_to_end: bool,
    ) -> Result<(), ScenarioError> {
        source.check().map_err(|(field, message)| {
            let span = find_key(self.source, "inputs", field);
            self.error(span, &format!("inputs.{field}"), message)
        })?;
        if measure_end_to_end && source.images.is_none() {
            return Err(self.error(
                find_key(self.source, "measure", "end_to_end"),
                "measure.end_to_end",
                "end-to-end timing starts from image files: give `images = \"folder\"` under [inputs]".into(),
            ));
        }
        if source.images.is_some() {
            if let Some(i) = models.iter().position(|m| m.preprocess.is_none()) {
                return Err(self.error(
                    find_key(self.source, "inputs", "images"),
                    &format!("models[{i}].preprocess"),
                    format!(
                        "image inputs need a [models.preprocess] table for model `{}`",
                        models[i].name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn parity(
        &self,
        rules: &ParityRules,
        backends: &[BackendRequest],
        available: &[BackendInfo],
    ) -> Result<(), ScenarioError> {
        rules.check().map_err(|(field, message)| {
            self.error(
                find_key(self.source, "parity", field),
                &format!("parity.{field}"),
                message,
            )
        })?;
        let Some(reference) = &rules.reference else {
            return Ok(());
        };
        let span = find_key(self.source, "parity", "reference");
        // The reference names one of the scenario's backend entries, whose engine must read its format.
        let engine = backends
            .iter()
            .find(|b| b.name == reference.backend)
            .map_or(reference.backend.as_str(), |b| b.engine.as_str());
        let Some(info) = available.iter().find(|b| b.name == engine) else {
            return Err(self.error(
                span,
                "parity.reference.backend",
                format!(
                    "no backend `{}` is compiled into this build",
                    reference.backend
                ),
            ));
        };
        if !info.formats.contains(&reference.format) {
            return Err(self.error(
                span,
                "parity.reference.format",
                format!(
                    "{} does not read {} models",
                    reference.backend, reference.format
                ),
            ));
        }
        if !backends.iter().any(|b| b.name == reference.backend) {
            return Err(self.error(
                span,
                "parity.reference.backend",
                format!(
                    "the reference `{}` is not among the scenario's backends",
                    reference.backend
                ),
            ));
        }
        Ok(())
    }
}

impl RawModel {
    fn file(&self, format: ModelFormat) -> Option<&Spanned<String>> {
        match format {
            ModelFormat::Onnx => self.onnx.as_ref(),
            ModelFormat::Tflite => self.tflite.as_ref(),
        }
    }
}

/// A backend runs ONNX unless told otherwise, or the first format it reads.
fn default_format(info: &BackendInfo) -> ModelFormat {
    if info.formats.contains(&ModelFormat::Onnx) {
        ModelFormat::Onnx
    } else {
        info.formats[0]
    }
}

/// Locates `key` inside `[table]` for checks made after parsing (the value itself carries no span there).
fn find_key(source: &str, table: &str, key: &str) -> Option<Range<usize>> {
    let document = toml::de::DeTable::parse(source).ok()?.into_inner();
    let (_, value) = document.iter().find(|(k, _)| k.get_ref() == table)?;
    match value.get_ref() {
        toml::de::DeValue::Table(t) => t
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(k, _)| k.span()),
        _ => None,
    }
}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// What is wrong with a list of thread counts, said as what it must do; None when nothing is. A count listed
/// twice would measure the same rows twice, which `compare` would then pool.
pub fn thread_counts_problem(threads: &[usize]) -> Option<String> {
    if threads.is_empty() || threads.contains(&0) {
        return Some("list one or more thread counts, each at least 1".to_string());
    }
    let twice = threads
        .iter()
        .enumerate()
        .find(|(i, t)| threads[..*i].contains(t))?;
    Some(format!(
        "list each thread count once ({} is listed more than once)",
        twice.1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 6));
    }
}
