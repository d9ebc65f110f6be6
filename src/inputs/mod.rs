//! The inputs every backend is fed: described once per model, made once, identical for all engines.

mod images;
mod npy;
mod random;

pub use images::{ChannelOrder, Crop, Preprocess, Resize};
pub use npy::data_files;
pub use random::RandomInputs;

use anyhow::{bail, Context, Result};
use harness_backend_api::{ElementKind, ElementType, InputShape, Layout, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One input of a model, as the scenario describes it: its name, shape, element type, and where its values
/// come from when not from the scenario's `[inputs]` (images or seeded random values).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDescription {
    /// The input's name in the model file (the key of its `[models.inputs.NAME]` table); none for the
    /// single-input form `[models.input]`, which describes the model's only input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every dimension, free ones of the file bound to these; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The dimension order of `shape` for image tensors; engines whose file wants the other order get a
    /// transposed copy.
    #[serde(default)]
    pub layout: Option<Layout>,
    #[serde(default)]
    pub element_type: ElementType,
    /// For u8/i8 inputs: how the model maps its integers to the normalised float values.
    #[serde(default)]
    pub quantization: Option<Quantization>,
    /// Seeded random floats in `[low, high)`.
    #[serde(default)]
    pub uniform: Option<[f64; 2]>,
    /// Seeded random integers in `[low, high)` (token ids, class indices).
    #[serde(default)]
    pub range: Option<[i64; 2]>,
    /// Every element this value (a sample rate, a zero state, a mask of ones).
    #[serde(default)]
    pub value: Option<f64>,
    /// Real data: a `.npy` file for every set of inputs, or a folder of them, one per set in file-name order
    /// (relative to the scenario).
    #[serde(default)]
    pub npy: Option<PathBuf>,
}

/// Where one input's values come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fill {
    Uniform(f64, f64),
    Range(i64, i64),
    Value(f64),
}

/// The range integer inputs get when the scenario gives none: small and non-negative, so that token ids and
/// indices stay valid for any vocabulary.
pub const DEFAULT_INTEGER_RANGE: (i64, i64) = (0, 10);

/// Affine quantisation: real = scale × (q − zero_point).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantization {
    pub scale: f32,
    pub zero_point: i32,
}

impl Quantization {
    /// Rounds `real / scale + zero_point` to the nearest integer, clamped to `[low, high]`.
    pub fn quantize(self, real: f32, low: i32, high: i32) -> i32 {
        ((real / self.scale).round() as i32 + self.zero_point).clamp(low, high)
    }

    pub fn dequantize(self, q: i32) -> f32 {
        self.scale * (q - self.zero_point) as f32
    }

    /// A u8 or i8 tensor as the real values it stands for; any other is left as it is.
    pub fn dequantize_tensor(self, tensor: &Tensor) -> Tensor {
        let real = |values: Vec<i32>| {
            TensorData::F32(values.into_iter().map(|q| self.dequantize(q)).collect())
        };
        let data = match &tensor.data {
            TensorData::U8(v) => real(v.iter().map(|&q| i32::from(q)).collect()),
            TensorData::I8(v) => real(v.iter().map(|&q| i32::from(q)).collect()),
            other => other.clone(),
        };
        Tensor {
            shape: tensor.shape.clone(),
            data,
        }
    }
}

impl InputDescription {
    pub fn check(&self) -> Result<(), String> {
        if self.shape.contains(&0) {
            return Err(format!(
                "shape {:?} has a dimension 0 (a scalar's shape is [])",
                self.shape
            ));
        }
        if self.tensor_bytes().is_none() {
            return Err(format!(
                "shape {:?} has more elements than a tensor can hold",
                self.shape
            ));
        }
        let fills = [
            self.uniform.is_some(),
            self.range.is_some(),
            self.value.is_some(),
        ];
        if fills.iter().filter(|&&given| given).count() > 1 {
            return Err("give at most one of `uniform`, `range` and `value`".into());
        }
        let kind = self.element_type.kind();
        match (self.uniform, self.range) {
            (Some(_), _) if kind != ElementKind::Float => {
                return Err(format!(
                    "`uniform` is for float inputs; a {} input takes `range = [low, high]`",
                    self.element_type
                ))
            }
            (_, Some(_)) if kind != ElementKind::Integer => {
                return Err(format!(
                    "`range` is for integer inputs; a {} input takes `uniform` or `value`",
                    self.element_type
                ))
            }
            (Some([low, high]), _) if !(low.is_finite() && high.is_finite() && low < high) => {
                return Err(format!("`uniform = [{low}, {high}]` must have low < high"))
            }
            (_, Some([low, high])) if low >= high => {
                return Err(format!("`range = [{low}, {high}]` must have low < high"))
            }
            _ => {}
        }
        if let Some(value) = self.value {
            let whole = value.fract() == 0.0;
            let fits = match (self.element_type.kind(), integer_bounds(self.element_type)) {
                (ElementKind::Float, _) => value.is_finite(),
                (ElementKind::Boolean, _) => value == 0.0 || value == 1.0,
                (_, Some((min, max))) => whole && value >= min as f64 && value <= max as f64,
                (_, None) => false,
            };
            if !fits {
                return Err(format!(
                    "`value = {value}` is not a {} value",
                    self.element_type
                ));
            }
        }
        if let (Some([low, high]), Some((min, max))) =
            (self.range, integer_bounds(self.element_type))
        {
            if low < min || high - 1 > max {
                return Err(format!(
                    "`range = [{low}, {high}]` does not fit {} ({min} to {max})",
                    self.element_type
                ));
            }
        }
        if self.layout.is_some() && self.shape.len() != 4 {
            return Err(format!(
                "a layout applies to 4-D image tensors, but the shape is {:?}",
                self.shape
            ));
        }
        if let Some(q) = self.quantization {
            if !matches!(self.element_type, ElementType::U8 | ElementType::I8) {
                return Err(format!(
                    "quantization applies to u8 and i8 inputs, not {}",
                    self.element_type
                ));
            }
            if !(q.scale.is_finite() && q.scale > 0.0) {
                return Err(format!(
                    "quantization scale must be above 0, not {}",
                    q.scale
                ));
            }
        }
        Ok(())
    }

    /// The bytes one tensor of this input takes; `None` when its size overflows.
    pub fn tensor_bytes(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(self.element_type.size() as u64, |bytes, &dimension| {
                bytes.checked_mul(u64::try_from(dimension).ok()?)
            })
            .filter(|&bytes| usize::try_from(bytes).is_ok())
    }

    /// Whether the input has values of its own (`uniform`, `range`, `value` or `npy`), rather than the
    /// scenario's `[inputs]`.
    pub fn has_own_values(&self) -> bool {
        self.fill().is_some() || self.npy.is_some()
    }

    /// The generated values this input asks for: its own `uniform`, `range` or `value`.
    pub fn fill(&self) -> Option<Fill> {
        self.uniform
            .map(|[low, high]| Fill::Uniform(low, high))
            .or(self.range.map(|[low, high]| Fill::Range(low, high)))
            .or(self.value.map(Fill::Value))
    }

    /// The name used in messages: the model file's, or "the input" for the single-input form.
    pub fn label(&self) -> String {
        self.name
            .as_ref()
            .map_or_else(|| "the input".to_string(), |name| format!("input `{name}`"))
    }

    /// The shape engines bind the file's free dimensions to.
    pub fn bound_shape(&self) -> InputShape {
        InputShape {
            name: self.name.clone(),
            shape: self.shape.clone(),
            layout: self.layout,
        }
    }

    /// Whether this input's values stand for real numbers at reduced precision (f16, or quantised images),
    /// which the parity check judges with its looser thresholds. Integer ids and masks do not.
    pub fn reduced_precision(&self) -> bool {
        self.element_type == ElementType::F16
            || (matches!(self.element_type, ElementType::U8 | ElementType::I8)
                && (self.layout.is_some() || self.quantization.is_some()))
    }

    /// Height, width and channels of an image input, from its shape and layout.
    pub fn image_geometry(&self) -> Option<(usize, usize, usize)> {
        match (self.layout?, self.shape.as_slice()) {
            (Layout::Nchw, &[1, c, h, w]) | (Layout::Nhwc, &[1, h, w, c]) => Some((h, w, c)),
            _ => None,
        }
    }
}

/// Where the inputs come from: exactly one of `random` and `images`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSource {
    /// Seeded random tensors, uniform in [-1, 1) for f32 and over the whole range for integers.
    #[serde(default)]
    pub random: Option<RandomInputs>,
    /// A folder of JPEG, PNG or BMP images, decoded and preprocessed once per model.
    #[serde(default)]
    pub images: Option<PathBuf>,
    /// Always feed this one input (by index) instead of cycling through all of them.
    #[serde(default)]
    pub pin: Option<usize>,
}

/// The prepared inputs of one model: sets of tensors (one tensor per described input, in the scenario's
/// order), with a name for each set (the image file, or `random-N`), and for images the recipe that made
/// them, which end-to-end timing repeats inside the timed region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInputs {
    pub names: Vec<String>,
    pub sets: Vec<Vec<Tensor>>,
    pub images: Option<ImageRecipe>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecipe {
    pub files: Vec<PathBuf>,
    pub preprocess: Preprocess,
    /// Which of the model's described inputs the images feed.
    pub input: usize,
}

impl ImageRecipe {
    /// Decodes and preprocesses image `index` again, as `load_folder` did.
    pub fn make(&self, index: usize, description: &InputDescription) -> Result<Tensor> {
        images::load_image(&self.files[index], description, &self.preprocess)
    }
}

impl InputSource {
    /// Checks what can be checked without reading images; on failure returns the field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match (&self.random, &self.images) {
            (Some(_), Some(_)) => Err((
                "images",
                "give either `random` or `images`, not both".into(),
            )),
            (None, None) => Err((
                "random",
                "no input source: give `random = { count = N, seed = S }` or `images = \"folder\"`"
                    .into(),
            )),
            (Some(r), None) if r.count == 0 => Err(("random", "count must be at least 1".into())),
            (Some(r), None) => check_pin(self.pin, r.count),
            (None, Some(_)) => Ok(()),
        }
    }

    /// Makes the logical input tensors for one model. Images are decoded and preprocessed here, once; every
    /// input that has its own `uniform`, `range` or `value`, and every input but the image one, is generated.
    pub fn prepare(
        &self,
        descriptions: &[InputDescription],
        preprocess: Option<&Preprocess>,
    ) -> Result<ModelInputs> {
        // Each set's name, the image input's tensors and recipe (with images), and the seed of the rest.
        let (names, images, generator) = match (&self.random, &self.images) {
            (Some(random), _) => (
                (0..random.count).map(|i| format!("random-{i}")).collect(),
                None,
                *random,
            ),
            (None, Some(folder)) => {
                let Some(preprocess) = preprocess else {
                    bail!("image inputs need a `preprocess` table for the model");
                };
                let Some(input) = descriptions.iter().position(|d| !d.has_own_values()) else {
                    bail!("every input has values of its own: none takes the images");
                };
                let loaded = images::load_folder(folder, &descriptions[input], preprocess)?;
                let recipe = ImageRecipe {
                    files: loaded.files,
                    preprocess: preprocess.clone(),
                    input,
                };
                // Inputs beside the image one are generated with the images' set numbers as seeds.
                let generator = RandomInputs {
                    count: loaded.tensors.len(),
                    seed: 0,
                };
                (loaded.names, Some((loaded.tensors, recipe)), generator)
            }
            (None, None) => bail!("no input source"),
        };
        let count = names.len();
        let mut given: Vec<(usize, Vec<Tensor>)> = Vec::new();
        for (position, description) in descriptions.iter().enumerate() {
            if let Some(path) = &description.npy {
                let tensors = npy::load_sets(path, description, count)
                    .with_context(|| format!("{}: `npy`", description.label()))?;
                given.push((position, tensors));
            }
        }
        let recipe = images.map(|(tensors, recipe)| {
            given.push((recipe.input, tensors));
            recipe
        });
        let sets = (0..count)
            .map(|set| {
                let fixed = given
                    .iter()
                    .map(|(position, tensors)| (*position, tensors[set].clone()))
                    .collect();
                generator.generate_set(descriptions, set, fixed)
            })
            .collect();
        let inputs = ModelInputs {
            names,
            sets,
            images: recipe,
        };
        if let Err((_, message)) = check_pin(self.pin, inputs.sets.len()) {
            bail!("inputs.pin: {message}");
        }
        Ok(inputs)
    }
}

/// The smallest and largest value of an integer element type (i64's are i64's own).
pub fn integer_bounds(element_type: ElementType) -> Option<(i64, i64)> {
    match element_type {
        ElementType::I64 => Some((i64::MIN, i64::MAX)),
        ElementType::I32 => Some((i32::MIN.into(), i32::MAX.into())),
        ElementType::I8 => Some((i8::MIN.into(), i8::MAX.into())),
        ElementType::U8 => Some((u8::MIN.into(), u8::MAX.into())),
        _ => None,
    }
}

fn check_pin(pin: Option<usize>, count: usize) -> Result<(), (&'static str, String)> {
    match pin {
        Some(pin) if pin >= count => Err((
            "pin",
            format!("input {pin} does not exist: there are {count} inputs"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_must_name_an_existing_input() {
        let source = InputSource {
            random: Some(RandomInputs { count: 2, seed: 1 }),
            images: None,
            pin: Some(2),
        };
        assert_eq!(source.check().unwrap_err().0, "pin");
    }

    #[test]
    fn exactly_one_source() {
        let both = InputSource {
            random: Some(RandomInputs { count: 2, seed: 1 }),
            images: Some("x".into()),
            pin: None,
        };
        assert_eq!(both.check().unwrap_err().0, "images");
        let none = InputSource {
            random: None,
            images: None,
            pin: None,
        };
        assert_eq!(none.check().unwrap_err().0, "random");
    }

    #[test]
    fn integer_outputs_are_dequantized_and_float_ones_left_alone() {
        let q = Quantization {
            scale: 0.5,
            zero_point: -51,
        };
        let int8 = Tensor {
            shape: vec![3],
            data: TensorData::I8(vec![-51, -49, 127]),
        };
        assert_eq!(
            q.dequantize_tensor(&int8).data,
            TensorData::F32(vec![0.0, 1.0, 89.0])
        );
        let float = Tensor {
            shape: vec![1],
            data: TensorData::F32(vec![2.5]),
        };
        assert_eq!(q.dequantize_tensor(&float), float);
    }

    #[test]
    fn quantization_round_trips_within_half_a_step() {
        // The int8-input MobileNetV2: scale 0.018658448, zero point −14.
        let q = Quantization {
            scale: 0.018_658_448,
            zero_point: -14,
        };
        for real in [-2.1f32, -0.5, 0.0, 0.3, 2.2] {
            let back = q.dequantize(q.quantize(real, -128, 127));
            assert!(
                (back - real).abs() <= q.scale / 2.0 + 1e-6,
                "{real} → {back}"
            );
        }
        assert_eq!(q.quantize(0.0, -128, 127), -14);
        assert_eq!(q.quantize(100.0, -128, 127), 127, "clamped");
    }
}
