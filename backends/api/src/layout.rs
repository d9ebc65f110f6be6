//! Layout adaptation: the harness prepares one logical input; an engine whose model file wants the other
//! channel order (NCHW against NHWC) gets a transposed copy, made once, outside the timed region.

use crate::{BackendError, Element, Tensor, TensorInfo, Transform};
use serde::{Deserialize, Serialize};

/// The order of the dimensions of a 4-D image tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// What was done to the logical input to fit the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adaptation {
    None,
    NchwToNhwc,
    NhwcToNchw,
}

impl Adaptation {
    /// The name results files use (the same as its serialised form).
    pub fn as_str(self) -> &'static str {
        match self {
            Adaptation::None => "none",
            Adaptation::NchwToNhwc => "nchw_to_nhwc",
            Adaptation::NhwcToNchw => "nhwc_to_nchw",
        }
    }
}

/// Fits `logical` (in `layout`, when it is an image tensor) to the model input `wanted`.
pub fn adapt_input(
    engine: &str,
    logical: &Tensor,
    layout: Option<Layout>,
    wanted: &TensorInfo,
) -> Result<(Tensor, Adaptation), BackendError> {
    if logical.element_type() != wanted.element_type {
        return Err(BackendError::Input {
            engine: engine.to_string(),
            reason: format!(
                "model input `{}` takes {} but the scenario provides {}",
                wanted.name,
                wanted.element_type,
                logical.element_type()
            ),
        });
    }
    if wanted.accepts_shape(&logical.shape) {
        return Ok((logical.clone(), Adaptation::None));
    }
    match swapped_shape(&logical.shape, layout) {
        Some((shape, adaptation)) if wanted.accepts_shape(&shape) => {
            Ok((transpose(logical, adaptation), adaptation))
        }
        _ => Err(BackendError::Input {
            engine: engine.to_string(),
            reason: format!(
                "model input `{}` wants shape {} but the scenario provides {:?}{}",
                wanted.name,
                wanted.shape_text(),
                logical.shape,
                layout.map_or(String::new(), |l| format!(" ({l:?})")),
            ),
        }),
    }
}

/// An image shape in the other layout, and the adaptation that makes it; `None` for a tensor without a layout.
pub(crate) fn swapped_shape(
    shape: &[usize],
    layout: Option<Layout>,
) -> Option<(Vec<usize>, Adaptation)> {
    match (layout, shape) {
        (Some(Layout::Nchw), &[n, c, h, w]) => Some((vec![n, h, w, c], Adaptation::NchwToNhwc)),
        (Some(Layout::Nhwc), &[n, h, w, c]) => Some((vec![n, c, h, w], Adaptation::NhwcToNchw)),
        _ => None,
    }
}

fn transpose(tensor: &Tensor, adaptation: Adaptation) -> Tensor {
    let s = &tensor.shape;
    // Source dims (a, b, c, d) and the permutation that gives the destination order.
    let (dims, perm): ([usize; 4], [usize; 4]) = match adaptation {
        Adaptation::None => return tensor.clone(),
        Adaptation::NchwToNhwc => ([s[0], s[1], s[2], s[3]], [0, 2, 3, 1]),
        Adaptation::NhwcToNchw => ([s[0], s[1], s[2], s[3]], [0, 3, 1, 2]),
    };
    let out_shape: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    Tensor {
        shape: out_shape,
        data: tensor.data.transform(&Permute { dims, perm }),
    }
}

/// Reorders the dimensions `dims` of a 4-D tensor into the order `perm`.
struct Permute {
    dims: [usize; 4],
    perm: [usize; 4],
}

impl Transform for Permute {
    fn apply<T: Element>(&self, src: &[T]) -> Vec<T> {
        permute(src, self.dims, self.perm)
    }
}

fn permute<T: Copy>(src: &[T], dims: [usize; 4], perm: [usize; 4]) -> Vec<T> {
    let strides = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1];
    let out_dims = perm.map(|p| dims[p]);
    let out_strides = perm.map(|p| strides[p]);
    let mut out = Vec::with_capacity(src.len());
    for i0 in 0..out_dims[0] {
        for i1 in 0..out_dims[1] {
            for i2 in 0..out_dims[2] {
                let base = i0 * out_strides[0] + i1 * out_strides[1] + i2 * out_strides[2];
                out.extend((0..out_dims[3]).map(|i3| src[base + i3 * out_strides[3]]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ElementType, TensorData};

    fn info(shape: &[usize], element_type: ElementType) -> TensorInfo {
        TensorInfo {
            name: "in".into(),
            shape: shape.iter().map(|&d| Some(d)).collect(),
            element_type,
        }
    }

    fn nchw_1x2x2x3() -> Tensor {
        // Channel 0 holds 0..6, channel 1 holds 10..16 (h = 2, w = 3).
        let values: Vec<f32> = (0..6).chain(10..16).map(|v| v as f32).collect();
        Tensor::new(vec![1, 2, 2, 3], TensorData::F32(values)).unwrap()
    }

    #[test]
    fn matching_shape_passes_through_unchanged() {
        let t = nchw_1x2x2x3();
        let (out, how) = adapt_input(
            "e",
            &t,
            Some(Layout::Nchw),
            &info(&[1, 2, 2, 3], ElementType::F32),
        )
        .unwrap();
        assert_eq!(how, Adaptation::None);
        assert_eq!(out, t);
    }

    #[test]
    fn nchw_becomes_nhwc_with_channels_interleaved() {
        let (out, how) = adapt_input(
            "e",
            &nchw_1x2x2x3(),
            Some(Layout::Nchw),
            &info(&[1, 2, 3, 2], ElementType::F32),
        )
        .unwrap();
        assert_eq!(how, Adaptation::NchwToNhwc);
        assert_eq!(out.shape, vec![1, 2, 3, 2]);
        let expected: Vec<f32> = [0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15]
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(out.data, TensorData::F32(expected));
    }

    #[test]
    fn nhwc_round_trip_restores_the_original() {
        let t = nchw_1x2x2x3();
        let (nhwc, _) = adapt_input(
            "e",
            &t,
            Some(Layout::Nchw),
            &info(&[1, 2, 3, 2], ElementType::F32),
        )
        .unwrap();
        let (back, how) = adapt_input(
            "e",
            &nhwc,
            Some(Layout::Nhwc),
            &info(&[1, 2, 2, 3], ElementType::F32),
        )
        .unwrap();
        assert_eq!(how, Adaptation::NhwcToNchw);
        assert_eq!(back, t);
    }

    #[test]
    fn wrong_shape_or_type_is_refused_with_the_input_name() {
        let t = nchw_1x2x2x3();
        let err = adapt_input(
            "e",
            &t,
            Some(Layout::Nchw),
            &info(&[1, 3, 2, 2], ElementType::F32),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("`in` wants shape [1, 3, 2, 2]"),
            "{err}"
        );
        let err = adapt_input(
            "e",
            &t,
            Some(Layout::Nchw),
            &info(&[1, 2, 2, 3], ElementType::U8),
        )
        .unwrap_err();
        assert!(err.to_string().contains("takes u8"), "{err}");
    }
}
