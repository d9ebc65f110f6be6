use serde::{Deserialize, Serialize};
use std::fmt;

/// The element types the harness exchanges with engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementType {
    F32,
    U8,
    I8,
}

impl ElementType {
    pub fn as_str(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
            ElementType::U8 => "u8",
            ElementType::I8 => "i8",
        }
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The elements of a tensor, in row-major order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "values", rename_all = "lowercase")]
pub enum TensorData {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
}

impl TensorData {
    pub fn element_type(&self) -> ElementType {
        match self {
            TensorData::F32(_) => ElementType::F32,
            TensorData::U8(_) => ElementType::U8,
            TensorData::I8(_) => ElementType::I8,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::U8(v) => v.len(),
            TensorData::I8(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values' bytes in memory order, for engines that take raw buffers.
    pub fn as_bytes(&self) -> &[u8] {
        fn raw<T>(values: &[T]) -> &[u8] {
            // SAFETY: f32, u8 and i8 have no padding; the byte view covers exactly the slice.
            unsafe {
                std::slice::from_raw_parts(
                    values.as_ptr().cast::<u8>(),
                    std::mem::size_of_val(values),
                )
            }
        }
        match self {
            TensorData::F32(v) => raw(v),
            TensorData::U8(v) => raw(v),
            TensorData::I8(v) => raw(v),
        }
    }

    /// The values widened to f32, for comparing outputs of any element type.
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            TensorData::F32(v) => v.clone(),
            TensorData::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            TensorData::I8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        }
    }
}

/// A dense tensor: a shape and row-major data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that the data fills the shape exactly.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor, String> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(format!(
                "shape {shape:?} holds {expected} elements but {} were given",
                data.len()
            ));
        }
        Ok(Tensor { shape, data })
    }

    pub fn element_type(&self) -> ElementType {
        self.data.element_type()
    }
}

/// An input or output of a model as an engine sees it. `None` marks a dimension the model leaves open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<Option<usize>>,
    pub element_type: ElementType,
}

impl TensorInfo {
    pub fn accepts_shape(&self, shape: &[usize]) -> bool {
        self.shape.len() == shape.len()
            && self
                .shape
                .iter()
                .zip(shape)
                .all(|(want, &have)| want.is_none_or(|w| w == have))
    }

    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.name,
            self.element_type,
            self.shape_text()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_data_that_does_not_fill_the_shape() {
        assert!(Tensor::new(vec![2, 3], TensorData::F32(vec![0.0; 5])).is_err());
        assert!(Tensor::new(vec![2, 3], TensorData::F32(vec![0.0; 6])).is_ok());
    }

    #[test]
    fn open_dimensions_accept_any_size() {
        let info = TensorInfo {
            name: "x".into(),
            shape: vec![None, Some(3)],
            element_type: ElementType::F32,
        };
        assert!(info.accepts_shape(&[7, 3]));
        assert!(!info.accepts_shape(&[7, 4]));
        assert!(!info.accepts_shape(&[3]));
        assert_eq!(info.shape_text(), "[?, 3]");
    }
}
