//! The inputs every backend is fed: described once per model, generated once, identical for all engines.

use harness_backend_api::{ElementType, Layout, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The logical input of a model, as the scenario declares it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDescription {
    pub shape: Vec<usize>,
    /// The dimension order of `shape` for image tensors; engines whose file wants the other order get a
    /// transposed copy.
    #[serde(default)]
    pub layout: Option<Layout>,
    #[serde(default = "default_element_type")]
    pub element_type: ElementType,
}

fn default_element_type() -> ElementType {
    ElementType::F32
}

impl InputDescription {
    pub fn check(&self) -> Result<(), String> {
        if self.shape.is_empty() || self.shape.contains(&0) {
            return Err(format!(
                "shape {:?} must have at least one dimension, none of them 0",
                self.shape
            ));
        }
        if self.layout.is_some() && self.shape.len() != 4 {
            return Err(format!(
                "a layout applies to 4-D image tensors, but the shape is {:?}",
                self.shape
            ));
        }
        Ok(())
    }
}

/// Where the inputs come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSource {
    /// Seeded random tensors, uniform in [-1, 1) for f32 and over the whole range for integers.
    pub random: Option<RandomInputs>,
    /// Always feed this one input (by index) instead of cycling through all of them.
    #[serde(default)]
    pub pin: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomInputs {
    pub count: usize,
    pub seed: u64,
}

impl InputSource {
    /// Checks the source; on failure returns the offending field and why.
    pub fn check(&self, _models: usize) -> Result<(), (&'static str, String)> {
        let Some(random) = self.random else {
            return Err((
                "random",
                "no input source: give `random = { count = N, seed = S }`".into(),
            ));
        };
        if random.count == 0 {
            return Err(("random", "count must be at least 1".into()));
        }
        if let Some(pin) = self.pin {
            if pin >= random.count {
                return Err((
                    "pin",
                    format!(
                        "input {pin} does not exist: there are {} inputs",
                        random.count
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Builds the logical input tensors for a model described by `description`.
    pub fn generate(&self, description: &InputDescription) -> Vec<Tensor> {
        let random = self.random.expect("checked when the scenario was loaded");
        (0..random.count)
            .map(|i| random_tensor(description, random.seed.wrapping_add(i as u64)))
            .collect()
    }
}

fn random_tensor(description: &InputDescription, seed: u64) -> Tensor {
    let len: usize = description.shape.iter().product();
    let mut rng = SplitMix64(seed);
    let data = match description.element_type {
        ElementType::F32 => {
            // 24 random bits give every representable step of [0, 1) at f32 precision.
            TensorData::F32(
                (0..len)
                    .map(|_| (rng.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                    .collect(),
            )
        }
        ElementType::U8 => TensorData::U8((0..len).map(|_| (rng.next() >> 56) as u8).collect()),
        ElementType::I8 => {
            TensorData::I8((0..len).map(|_| (rng.next() >> 56) as u8 as i8).collect())
        }
    };
    Tensor {
        shape: description.shape.clone(),
        data,
    }
}

/// A tiny, fixed generator, so that a seed means the same tensors in every version of the harness.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(element_type: ElementType) -> InputDescription {
        InputDescription {
            shape: vec![1, 3, 8, 8],
            layout: Some(Layout::Nchw),
            element_type,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_tensors_and_different_inputs_differ() {
        let source = InputSource {
            random: Some(RandomInputs { count: 3, seed: 7 }),
            pin: None,
        };
        let a = source.generate(&description(ElementType::F32));
        let b = source.generate(&description(ElementType::F32));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert_ne!(a[0], a[1]);
        assert_eq!(a[0].shape, vec![1, 3, 8, 8]);
    }

    #[test]
    fn float_values_stay_in_range_and_spread() {
        let source = InputSource {
            random: Some(RandomInputs { count: 1, seed: 1 }),
            pin: None,
        };
        let TensorData::F32(values) = &source.generate(&description(ElementType::F32))[0].data
        else {
            panic!("f32 expected");
        };
        assert!(values.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        assert!(mean.abs() < 0.15, "mean {mean}");
        assert!(values.iter().any(|&v| v < -0.5) && values.iter().any(|&v| v > 0.5));
    }

    #[test]
    fn pin_must_name_an_existing_input() {
        let source = InputSource {
            random: Some(RandomInputs { count: 2, seed: 1 }),
            pin: Some(2),
        };
        assert_eq!(source.check(1).unwrap_err().0, "pin");
    }
}
