//! A scenario expanded into self-contained measurements: one per model × backend × format × threads.
//! A plan carries everything needed to run it, so that it could be handed to another process.

use crate::inputs::InputDescription;
use crate::key::{MeasurementKey, SeriesKey};
use crate::measure::{MeasureRules, Order};
use crate::rng::SplitMix64;
use crate::scenario::{Model, Scenario};
use harness_backend_api::{EngineOptions, ModelFormat};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a timed run covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// The engine's run call on an input already in the engine's form.
    Inference,
    /// Decoding the image file, preprocessing, layout conversion, handing it to the engine, and the run.
    EndToEnd,
}

impl Timing {
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Inference => "inference",
            Timing::EndToEnd => "end_to_end",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasurementPlan {
    pub model: String,
    /// The model this one is a variant of, in a technique study.
    #[serde(default)]
    pub baseline: Option<String>,
    /// The model file computes in reduced precision (scenario `quantized = true`).
    #[serde(default)]
    pub quantized: bool,
    pub model_path: PathBuf,
    pub format: ModelFormat,
    /// The scenario's name for the backend entry: what rows carry.
    pub backend: String,
    /// The compiled-in backend that runs it (the same as `backend` unless the scenario says `engine`).
    pub engine: String,
    pub threads: usize,
    pub timing: Timing,
    /// Which repetition of the whole list this is (0 for the first).
    pub round: u32,
    pub options: EngineOptions,
    pub inputs: Vec<InputDescription>,
    /// Always feed this input instead of cycling through all of them.
    pub pin: Option<usize>,
    pub rules: MeasureRules,
}

impl MeasurementPlan {
    /// The series this plan measures a round of, on `device`.
    pub fn series(&self, device: &str) -> SeriesKey {
        SeriesKey {
            device: device.to_string(),
            model: self.model.clone(),
            backend: self.backend.clone(),
            format: self.format.to_string(),
            threads: self.threads,
            timing: self.timing.as_str().to_string(),
        }
    }

    /// The measurement this plan makes, on `device`.
    pub fn key(&self, device: &str) -> MeasurementKey {
        MeasurementKey {
            series: self.series(device),
            round: self.round as usize,
        }
    }
}

/// Orders measurements model by model, then thread count, then backend, so that engines compared with
/// each other are measured close together in time; repeats that list for each round, shuffled per round
/// when the scenario asks.
pub fn expand(scenario: &Scenario) -> Vec<MeasurementPlan> {
    let one_round = round(scenario);
    let rules = &scenario.measure;
    (0..rules.rounds)
        .flat_map(|r| {
            let mut plans: Vec<MeasurementPlan> = one_round
                .iter()
                .map(|p| MeasurementPlan {
                    round: r,
                    ..p.clone()
                })
                .collect();
            if rules.order == Order::Shuffled {
                SplitMix64(rules.seed.wrapping_add(u64::from(r))).shuffle(&mut plans);
            }
            plans
        })
        .collect()
}

fn round(scenario: &Scenario) -> Vec<MeasurementPlan> {
    let mut plans = Vec::new();
    for model in &scenario.models {
        for &threads in &scenario.threads {
            for backend in &scenario.backends {
                for format in &backend.formats {
                    let Some(path) = model.files.get(format) else {
                        continue;
                    };
                    let timings: &[Timing] = if scenario.measure.end_to_end {
                        &[Timing::Inference, Timing::EndToEnd]
                    } else {
                        &[Timing::Inference]
                    };
                    for &timing in timings {
                        plans.push(MeasurementPlan {
                            model: model.name.clone(),
                            baseline: model.baseline.clone(),
                            quantized: model.quantized,
                            model_path: path.clone(),
                            format: *format,
                            backend: backend.name.clone(),
                            engine: backend.engine.clone(),
                            threads,
                            timing,
                            round: 0,
                            options: backend.options.clone(),
                            inputs: model.inputs.clone(),
                            pin: scenario.inputs.pin,
                            rules: scenario.measure.clone(),
                        });
                    }
                }
            }
        }
    }
    plans
}

/// The engine whose outputs every other engine's are compared with, for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferencePlan {
    pub backend: String,
    pub engine: String,
    pub format: ModelFormat,
    pub threads: usize,
    pub options: EngineOptions,
    pub model_path: PathBuf,
}

impl ReferencePlan {
    pub fn label(&self) -> String {
        format!(
            "{} {} {} thread{}",
            self.backend,
            self.format,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }

    /// The reference pass as a measurement of its own: one untimed-in-spirit run per input, no warm-up.
    pub fn measurement(&self, model: &Model, rules: &MeasureRules) -> MeasurementPlan {
        MeasurementPlan {
            model: model.name.clone(),
            baseline: model.baseline.clone(),
            quantized: model.quantized,
            model_path: self.model_path.clone(),
            format: self.format,
            backend: self.backend.clone(),
            engine: self.engine.clone(),
            threads: self.threads,
            timing: Timing::Inference,
            round: 0,
            options: self.options.clone(),
            inputs: model.inputs.clone(),
            pin: None,
            rules: MeasureRules {
                warmup_runs: 0,
                warmup_seconds: 0.0,
                min_runs: 1,
                min_seconds: 0.0,
                ..rules.clone()
            },
        }
    }
}

/// The reference candidates, best first: the scenario's reference choice alone when the model has that file;
/// otherwise ONNX Runtime on the ONNX file, then each backend that runs the ONNX file, then each backend's
/// first format the model has. The first that runs is the reference (an engine may be left out of a build,
/// or crash under emulation). The reference runs at the lowest thread count of the sweep.
pub fn reference_candidates(scenario: &Scenario, model: &Model) -> Vec<ReferencePlan> {
    let runs = |backend: &str, format: ModelFormat| {
        model.files.contains_key(&format)
            && scenario
                .backends
                .iter()
                .any(|b| b.name == backend && b.formats.contains(&format))
    };
    let explicit = scenario
        .parity
        .reference
        .as_ref()
        .filter(|r| model.files.contains_key(&r.format))
        .map(|r| (r.backend.clone(), r.format));
    let onnx_runtime =
        runs("ort", ModelFormat::Onnx).then(|| ("ort".to_string(), ModelFormat::Onnx));
    let onnx = scenario
        .backends
        .iter()
        .filter(|b| runs(&b.name, ModelFormat::Onnx))
        .map(|b| (b.name.clone(), ModelFormat::Onnx));
    let any = scenario.backends.iter().filter_map(|b| {
        b.formats
            .iter()
            .find(|f| model.files.contains_key(f))
            .map(|f| (b.name.clone(), *f))
    });
    let choices: Vec<(String, ModelFormat)> = match explicit {
        Some(choice) => vec![choice],
        None => onnx_runtime.into_iter().chain(onnx).chain(any).collect(),
    };
    let mut candidates: Vec<ReferencePlan> = Vec::new();
    for (backend, format) in choices {
        if candidates
            .iter()
            .any(|c| c.backend == backend && c.format == format)
        {
            continue;
        }
        let entry = scenario.backends.iter().find(|b| b.name == backend);
        candidates.push(ReferencePlan {
            engine: entry.map_or_else(|| backend.clone(), |b| b.engine.clone()),
            options: entry.map(|b| b.options.clone()).unwrap_or_default(),
            model_path: model.files[&format].clone(),
            threads: scenario.threads.iter().copied().min().unwrap_or(1),
            backend,
            format,
        });
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::BackendInfo;

    fn scenario(measure: &str) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.onnx"), b"").unwrap();
        let text = format!(
            "name = \"p\"\nthreads = [1, 2]\n[[models]]\nname = \"m\"\nonnx = \"m.onnx\"\n[models.input]\nshape = [1, 4]\n\
             [inputs]\nrandom = {{ count = 1, seed = 1 }}\n[backends.a]\n[backends.b]\n[backends.c]\n[measure]\n{measure}"
        );
        let backend = |name: &str| BackendInfo {
            name: name.into(),
            engine_version: "1".into(),
            formats: vec![ModelFormat::Onnx],
            runtime: Ok(String::new()),
            threads_note: String::new(),
            options: Some(Vec::new()),
        };
        crate::scenario::parse(
            &dir.path().join("p.toml"),
            text,
            &[backend("a"), backend("b"), backend("c")],
        )
        .unwrap()
    }

    fn order(plans: &[MeasurementPlan]) -> Vec<(u32, String, usize)> {
        plans
            .iter()
            .map(|p| (p.round, p.backend.clone(), p.threads))
            .collect()
    }

    #[test]
    fn engines_are_interleaved_at_each_thread_count_and_rounds_repeat_the_list() {
        let plans = expand(&scenario("rounds = 2"));
        let names: Vec<String> = plans
            .iter()
            .map(|p| format!("{}{}", p.backend, p.threads))
            .collect();
        assert_eq!(
            names,
            ["a1", "b1", "c1", "a2", "b2", "c2", "a1", "b1", "c1", "a2", "b2", "c2"]
        );
        assert!(plans[..6].iter().all(|p| p.round == 0) && plans[6..].iter().all(|p| p.round == 1));
    }

    #[test]
    fn shuffled_rounds_follow_the_seed_and_keep_every_measurement() {
        let a = expand(&scenario("rounds = 3\norder = \"shuffled\"\nseed = 7"));
        let b = expand(&scenario("rounds = 3\norder = \"shuffled\"\nseed = 7"));
        assert_eq!(order(&a), order(&b), "the same seed gives the same order");
        let c = expand(&scenario("rounds = 3\norder = \"shuffled\"\nseed = 8"));
        assert_ne!(order(&a), order(&c), "another seed, another order");
        for round in 0..3 {
            let mut names: Vec<String> = a
                .iter()
                .filter(|p| p.round == round)
                .map(|p| format!("{}{}", p.backend, p.threads))
                .collect();
            names.sort();
            assert_eq!(names, ["a1", "a2", "b1", "b2", "c1", "c2"]);
        }
        let rounds: Vec<Vec<(u32, String, usize)>> = (0..3)
            .map(|r| {
                order(&a)
                    .into_iter()
                    .filter(|p| p.0 == r)
                    .map(|p| (0, p.1, p.2))
                    .collect()
            })
            .collect();
        assert!(
            rounds[0] != rounds[1] || rounds[1] != rounds[2],
            "each round gets its own order"
        );
    }
}
