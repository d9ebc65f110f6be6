use super::{Fill, InputDescription, DEFAULT_INTEGER_RANGE};
use crate::rng::SplitMix64;
use harness_backend_api::{f16, ElementKind, ElementType, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// `count` sets of seeded random tensors; set i uses seed `seed + i` for its first input (the others mix in
/// their position), so that a single-input model's tensors do not depend on how many inputs others have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomInputs {
    pub count: usize,
    pub seed: u64,
}

impl RandomInputs {
    /// Set `set`: one tensor per description, each from its own fill or the default for its type; `given`
    /// (an input's position and its tensor: an image, a file's array) stands in for that input.
    pub fn generate_set(
        &self,
        descriptions: &[InputDescription],
        set: usize,
        mut given: Vec<(usize, Tensor)>,
    ) -> Vec<Tensor> {
        let seed = self.seed.wrapping_add(set as u64);
        let mut tensors = Vec::with_capacity(descriptions.len());
        for (position, description) in descriptions.iter().enumerate() {
            let tensor = match given.iter().position(|(at, _)| *at == position) {
                Some(index) => given.swap_remove(index).1,
                None => {
                    let mixed = seed ^ (position as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    random_tensor(description, mixed)
                }
            };
            tensors.push(tensor);
        }
        tensors
    }
}

/// The values an input gets when it has no fill of its own: floats uniform in [-1, 1), u8 and i8 over their
/// whole range, other integers in [`DEFAULT_INTEGER_RANGE`], booleans either way.
pub fn default_fill(element_type: ElementType) -> Option<Fill> {
    match (element_type.kind(), element_type) {
        (ElementKind::Float, _) => Some(Fill::Uniform(-1.0, 1.0)),
        (_, ElementType::U8 | ElementType::I8) => None,
        (ElementKind::Integer, _) => Some(Fill::Range(
            DEFAULT_INTEGER_RANGE.0,
            DEFAULT_INTEGER_RANGE.1,
        )),
        (ElementKind::Boolean, _) => Some(Fill::Range(0, 2)),
    }
}

fn random_tensor(description: &InputDescription, seed: u64) -> Tensor {
    let len: usize = description.shape.iter().product();
    let mut rng = SplitMix64(seed);
    let element_type = description.element_type;
    let data = match description.fill().or(default_fill(element_type)) {
        // 24 random bits give every representable step of [0, 1) at f32 precision.
        Some(Fill::Uniform(low, high)) => floats(
            element_type,
            (0..len)
                .map(|_| low + (high - low) * ((rng.next() >> 40) as f64 / (1u64 << 24) as f64)),
        ),
        Some(Fill::Range(low, high)) => {
            let span = high.abs_diff(low);
            integers(
                element_type,
                (0..len).map(|_| low.wrapping_add_unsigned(rng.next() % span)),
            )
        }
        Some(Fill::Value(value)) => match element_type.kind() {
            ElementKind::Float => floats(element_type, std::iter::repeat_n(value, len)),
            _ => integers(element_type, std::iter::repeat_n(value as i64, len)),
        },
        // u8 and i8 without a fill: every bit pattern.
        None => integers(
            element_type,
            (0..len).map(|_| i64::from((rng.next() >> 56) as u8 as i8)),
        ),
    };
    Tensor {
        shape: description.shape.clone(),
        data,
    }
}

/// Float values as `element_type` (a float type: `check` refuses `uniform` for others).
fn floats(element_type: ElementType, values: impl Iterator<Item = f64>) -> TensorData {
    match element_type {
        ElementType::F16 => TensorData::F16(values.map(f16::from_f64).collect()),
        ElementType::F64 => TensorData::F64(values.collect()),
        _ => TensorData::F32(values.map(|v| v as f32).collect()),
    }
}

/// Integer values as `element_type`, wrapped to its width (ranges are checked to fit it).
fn integers(element_type: ElementType, values: impl Iterator<Item = i64>) -> TensorData {
    match element_type {
        ElementType::I64 => TensorData::I64(values.collect()),
        ElementType::I32 => TensorData::I32(values.map(|v| v as i32).collect()),
        ElementType::I8 => TensorData::I8(values.map(|v| v as i8).collect()),
        ElementType::U8 => TensorData::U8(values.map(|v| v as u8).collect()),
        ElementType::Bool => TensorData::Bool(values.map(|v| v != 0).collect()),
        float => floats(float, values.map(|v| v as f64)),
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
            ..InputDescription::default()
        }
    }

    fn one(random: RandomInputs, description: InputDescription, set: usize) -> Tensor {
        random
            .generate_set(&[description], set, Vec::new())
            .remove(0)
    }

    #[test]
    fn the_same_seed_gives_the_same_tensors_and_different_sets_differ() {
        let random = RandomInputs { count: 3, seed: 7 };
        let a = one(random, description(ElementType::F32), 0);
        assert_eq!(a, one(random, description(ElementType::F32), 0));
        assert_ne!(a, one(random, description(ElementType::F32), 1));
        assert_eq!(a.shape, vec![1, 3, 8, 8]);
    }

    #[test]
    fn a_models_first_input_keeps_the_values_a_single_input_gets() {
        let random = RandomInputs { count: 1, seed: 3 };
        let ids = InputDescription {
            name: Some("ids".into()),
            shape: vec![1, 5],
            element_type: ElementType::I64,
            ..InputDescription::default()
        };
        let set = random.generate_set(&[description(ElementType::F32), ids], 0, Vec::new());
        assert_eq!(set[0], one(random, description(ElementType::F32), 0));
        assert_eq!(set[1].element_type(), ElementType::I64);
    }

    #[test]
    fn float_values_stay_in_range_and_spread() {
        let tensor = one(
            RandomInputs { count: 1, seed: 1 },
            description(ElementType::F32),
            0,
        );
        let TensorData::F32(values) = &tensor.data else {
            panic!("f32 expected");
        };
        assert!(values.iter().all(|v| (-1.0..1.0).contains(v)));
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        assert!(mean.abs() < 0.15, "mean {mean}");
        assert!(values.iter().any(|&v| v < -0.5) && values.iter().any(|&v| v > 0.5));
    }

    #[test]
    fn each_fill_gives_values_of_the_inputs_type_within_its_bounds() {
        let random = RandomInputs { count: 1, seed: 9 };
        let with = |element_type, edit: fn(&mut InputDescription)| {
            let mut d = InputDescription {
                shape: vec![2, 64],
                element_type,
                ..InputDescription::default()
            };
            edit(&mut d);
            one(random, d, 0).data
        };
        let ids = with(ElementType::I64, |d| d.range = Some([5, 30522]));
        let ids = ids.values::<i64>().unwrap();
        assert!(ids.iter().all(|v| (5..30522).contains(v)));
        assert!(ids.iter().any(|&v| v > 1000), "spread over the range");
        let default = with(ElementType::I32, |_| {});
        let (low, high) = DEFAULT_INTEGER_RANGE;
        assert!(default
            .values::<i32>()
            .unwrap()
            .iter()
            .all(|&v| (low..high).contains(&i64::from(v))));
        let rate = with(ElementType::I64, |d| d.value = Some(16000.0));
        assert!(rate.values::<i64>().unwrap().iter().all(|&v| v == 16000));
        let half = with(ElementType::F16, |d| d.uniform = Some([0.0, 0.5]));
        assert!(half
            .values::<f16>()
            .unwrap()
            .iter()
            .all(|v| (0.0..=0.5).contains(&v.to_f32())));
        let mask = with(ElementType::Bool, |_| {});
        let mask = mask.values::<bool>().unwrap();
        assert!(mask.contains(&true) && mask.contains(&false));
    }
}
