pub use half::f16;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares [`ElementType`], [`TensorData`] and [`Element`] together from one list, so that a new element
/// type is one line here and every match over the types stays complete.
macro_rules! element_types {
    ($($variant:ident($rust:ty) = $name:literal, $kind:ident;)*) => {
        /// The element types the harness exchanges with engines: every type the engines and both model
        /// formats carry for inputs and outputs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum ElementType {
            $($variant,)*
        }

        impl ElementType {
            pub const ALL: &'static [ElementType] = &[$(ElementType::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ElementType::$variant => $name,)*
                }
            }

            /// Bytes per element.
            pub fn size(self) -> usize {
                match self {
                    $(ElementType::$variant => std::mem::size_of::<$rust>(),)*
                }
            }

            pub fn kind(self) -> ElementKind {
                match self {
                    $(ElementType::$variant => ElementKind::$kind,)*
                }
            }
        }

        /// The elements of a tensor, in row-major order.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "values", rename_all = "lowercase")]
        pub enum TensorData {
            $($variant(Vec<$rust>),)*
        }

        impl TensorData {
            pub fn element_type(&self) -> ElementType {
                match self {
                    $(TensorData::$variant(_) => ElementType::$variant,)*
                }
            }

            pub fn len(&self) -> usize {
                match self {
                    $(TensorData::$variant(v) => v.len(),)*
                }
            }

            /// The values' bytes in memory order, for engines that take raw buffers.
            pub fn as_bytes(&self) -> &[u8] {
                match self {
                    $(TensorData::$variant(v) => raw_bytes(v),)*
                }
            }

            /// The values widened to f64 (booleans as 0 and 1), for comparing outputs of any element type.
            pub fn to_f64(&self) -> Vec<f64> {
                match self {
                    $(TensorData::$variant(v) => v.iter().map(|&x| x.to_f64()).collect(),)*
                }
            }

            /// The same type of data, with the values `transform` makes of these.
            pub fn transform(&self, transform: &impl Transform) -> TensorData {
                match self {
                    $(TensorData::$variant(v) => TensorData::$variant(transform.apply(v)),)*
                }
            }

            /// Values of `element_type` from bytes in this machine's order, as [`TensorData::as_bytes`] gives
            /// them; `None` when the bytes are not a whole number of elements, or not valid for the type.
            pub fn from_bytes(element_type: ElementType, bytes: &[u8]) -> Option<TensorData> {
                match element_type {
                    $(ElementType::$variant => from_raw_bytes::<$rust>(bytes).map(TensorData::$variant),)*
                }
            }

            /// `len` values of `element_type` read straight into their storage from `input`, as
            /// [`TensorData::as_bytes`] gives them: no buffer in between, for inputs of hundreds of megabytes.
            pub fn read_from(
                element_type: ElementType,
                len: usize,
                input: &mut impl std::io::Read,
            ) -> std::io::Result<TensorData> {
                match element_type {
                    $(ElementType::$variant => read_values::<$rust>(len, input).map(TensorData::$variant),)*
                }
            }
        }

        $(impl Element for $rust {
            const TYPE: ElementType = ElementType::$variant;

            fn wrap(values: Vec<Self>) -> TensorData {
                TensorData::$variant(values)
            }

            fn unwrap(data: &TensorData) -> Option<&[Self]> {
                match data {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        })*
    };
}

element_types! {
    F32(f32) = "f32", Float;
    F16(f16) = "f16", Float;
    F64(f64) = "f64", Float;
    I64(i64) = "i64", Integer;
    I32(i32) = "i32", Integer;
    I8(i8) = "i8", Integer;
    U8(u8) = "u8", Integer;
    Bool(bool) = "bool", Boolean;
}

/// What the values of an element type mean, for how they are generated and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementKind {
    Float,
    Integer,
    Boolean,
}

/// A Rust type that is one of the harness's element types: lets engines read and write tensors generically.
pub trait Element: Copy + ToF64 + 'static {
    const TYPE: ElementType;
    fn wrap(values: Vec<Self>) -> TensorData;
    fn unwrap(data: &TensorData) -> Option<&[Self]>;
}

/// A change to a tensor's values that works the same for every element type (a transpose, a slice).
pub trait Transform {
    fn apply<T: Element>(&self, values: &[T]) -> Vec<T>;
}

/// Widening to f64, for comparison; exact for every element type but i64 beyond 2^53.
pub trait ToF64 {
    fn to_f64(self) -> f64;
}

macro_rules! to_f64_by_as {
    ($($t:ty),*) => {$(impl ToF64 for $t {
        fn to_f64(self) -> f64 {
            self as f64
        }
    })*};
}
to_f64_by_as!(f32, f64, i64, i32, i8, u8);

impl ToF64 for f16 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl ToF64 for bool {
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
}

fn raw_bytes<T: Element>(values: &[T]) -> &[u8] {
    // SAFETY: every element type is a plain number or bool without padding; the view covers exactly the slice.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

fn read_values<T: Element + Default>(
    len: usize,
    input: &mut impl std::io::Read,
) -> std::io::Result<Vec<T>> {
    // Zeroed storage comes from fresh pages (calloc) for large tensors: no pass over it before the read.
    let mut values = vec![T::default(); len];
    let size = std::mem::size_of_val(values.as_slice());
    // SAFETY: the view covers exactly the vector's elements; every bit pattern is valid for the number types,
    // and bool's bytes are checked to be 0 or 1 before the vector is handed out.
    let bytes = unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), size) };
    input.read_exact(bytes)?;
    if T::TYPE == ElementType::Bool && bytes.iter().any(|&b| b > 1) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "booleans that are neither 0 nor 1",
        ));
    }
    Ok(values)
}

fn from_raw_bytes<T: Element + Default>(mut bytes: &[u8]) -> Option<Vec<T>> {
    let size = std::mem::size_of::<T>();
    if !bytes.len().is_multiple_of(size) {
        return None;
    }
    read_values(bytes.len() / size, &mut bytes).ok()
}

/// f32 unless a scenario or a file says otherwise.
impl Default for ElementType {
    fn default() -> Self {
        ElementType::F32
    }
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TensorData {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32 (f64 and i64 rounded), for what reads scores (top-k, predictions).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            TensorData::F32(v) => v.clone(),
            other => other.to_f64().into_iter().map(|x| x as f32).collect(),
        }
    }

    /// The values as `T` when they are of that type.
    pub fn values<T: Element>(&self) -> Option<&[T]> {
        T::unwrap(self)
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
    fn bytes_come_back_as_the_same_values_for_every_element_type() {
        let samples = [
            TensorData::F32(vec![1.5, -0.0, f32::NAN]),
            TensorData::F16(vec![f16::from_f32(0.5), f16::MAX]),
            TensorData::F64(vec![1e300, -2.0]),
            TensorData::I64(vec![i64::MIN, 30521]),
            TensorData::I32(vec![-7, 16000]),
            TensorData::I8(vec![-128, 127]),
            TensorData::U8(vec![0, 255]),
            TensorData::Bool(vec![true, false]),
        ];
        assert_eq!(samples.len(), ElementType::ALL.len());
        for data in samples {
            let back = TensorData::from_bytes(data.element_type(), data.as_bytes()).unwrap();
            assert_eq!(back.as_bytes(), data.as_bytes(), "{}", data.element_type());
            assert_eq!(back.len(), data.len());
            let read = TensorData::read_from(data.element_type(), data.len(), &mut data.as_bytes())
                .unwrap();
            assert_eq!(read.as_bytes(), data.as_bytes(), "{}", data.element_type());
        }
        assert_eq!(TensorData::from_bytes(ElementType::Bool, &[2]), None);
        assert!(TensorData::read_from(ElementType::Bool, 1, &mut &[2u8][..]).is_err());
        assert!(TensorData::read_from(ElementType::I32, 2, &mut &[0u8; 6][..]).is_err());
        assert_eq!(TensorData::from_bytes(ElementType::I32, &[0; 6]), None);
        assert_eq!(TensorData::I64(vec![-3]).to_f64(), vec![-3.0]);
        assert_eq!(TensorData::Bool(vec![true]).to_f32(), vec![1.0]);
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
