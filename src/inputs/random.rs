use super::{InputDescription, ModelInputs};
use crate::rng::SplitMix64;
use harness_backend_api::{ElementType, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// `count` seeded random tensors; input i uses seed `seed + i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomInputs {
    pub count: usize,
    pub seed: u64,
}

impl RandomInputs {
    pub fn generate(&self, description: &InputDescription) -> ModelInputs {
        ModelInputs {
            names: (0..self.count).map(|i| format!("random-{i}")).collect(),
            tensors: (0..self.count)
                .map(|i| random_tensor(description, self.seed.wrapping_add(i as u64)))
                .collect(),
            images: None,
        }
    }
}

fn random_tensor(description: &InputDescription, seed: u64) -> Tensor {
    let len: usize = description.shape.iter().product();
    let mut rng = SplitMix64(seed);
    let data = match description.element_type {
        // 24 random bits give every representable step of [0, 1) at f32 precision.
        ElementType::F32 => TensorData::F32(
            (0..len)
                .map(|_| (rng.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                .collect(),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::Layout;

    fn description(element_type: ElementType) -> InputDescription {
        InputDescription {
            shape: vec![1, 3, 8, 8],
            layout: Some(Layout::Nchw),
            element_type,
            quantization: None,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_tensors_and_different_inputs_differ() {
        let random = RandomInputs { count: 3, seed: 7 };
        let a = random.generate(&description(ElementType::F32));
        let b = random.generate(&description(ElementType::F32));
        assert_eq!(a, b);
        assert_eq!(a.tensors.len(), 3);
        assert_eq!(a.names, ["random-0", "random-1", "random-2"]);
        assert_ne!(a.tensors[0], a.tensors[1]);
        assert_eq!(a.tensors[0].shape, vec![1, 3, 8, 8]);
    }

    #[test]
    fn float_values_stay_in_range_and_spread() {
        let inputs = RandomInputs { count: 1, seed: 1 }.generate(&description(ElementType::F32));
        let TensorData::F32(values) = &inputs.tensors[0].data else {
            panic!("f32 expected");
        };
        assert!(values.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        assert!(mean.abs() < 0.15, "mean {mean}");
        assert!(values.iter().any(|&v| v < -0.5) && values.iter().any(|&v| v > 0.5));
    }
}
