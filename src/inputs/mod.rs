//! The inputs every backend is fed: described once per model, made once, identical for all engines.

mod images;
mod random;

pub use images::{ChannelOrder, Crop, Preprocess, Resize};
pub use random::RandomInputs;

use anyhow::{bail, Result};
use harness_backend_api::{ElementType, Layout, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// For u8/i8 inputs: how the model maps its integers to the normalised float values.
    #[serde(default)]
    pub quantization: Option<Quantization>,
}

fn default_element_type() -> ElementType {
    ElementType::F32
}

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

    /// An integer tensor as the real values it stands for; a float tensor is left as it is.
    pub fn dequantize_tensor(self, tensor: &Tensor) -> Tensor {
        let real = |values: Vec<i32>| {
            TensorData::F32(values.into_iter().map(|q| self.dequantize(q)).collect())
        };
        let data = match &tensor.data {
            TensorData::F32(v) => TensorData::F32(v.clone()),
            TensorData::U8(v) => real(v.iter().map(|&q| i32::from(q)).collect()),
            TensorData::I8(v) => real(v.iter().map(|&q| i32::from(q)).collect()),
        };
        Tensor {
            shape: tensor.shape.clone(),
            data,
        }
    }
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
        if let Some(q) = self.quantization {
            if self.element_type == ElementType::F32 {
                return Err("quantization applies to u8 and i8 inputs, not f32".into());
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

/// The prepared inputs of one model, with a name for each (the image file, or `random-N`), and for images the
/// recipe that made them, which end-to-end timing repeats inside the timed region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInputs {
    pub names: Vec<String>,
    pub tensors: Vec<Tensor>,
    pub images: Option<ImageRecipe>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecipe {
    pub files: Vec<PathBuf>,
    pub preprocess: Preprocess,
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

    /// Makes the logical input tensors for one model. Images are decoded and preprocessed here, once.
    pub fn prepare(
        &self,
        description: &InputDescription,
        preprocess: Option<&Preprocess>,
    ) -> Result<ModelInputs> {
        let inputs = match (&self.random, &self.images) {
            (Some(random), _) => random.generate(description),
            (None, Some(folder)) => {
                let Some(preprocess) = preprocess else {
                    bail!("image inputs need a `preprocess` table for the model");
                };
                images::load_folder(folder, description, preprocess)?
            }
            (None, None) => bail!("no input source"),
        };
        if let Err((_, message)) = check_pin(self.pin, inputs.tensors.len()) {
            bail!("inputs.pin: {message}");
        }
        Ok(inputs)
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
