//! Shapes bound before a model is loaded. A model file may leave dimensions free (`?`, `batch`,
//! `sequence_length`); the scenario's shape for each input binds them, and every engine receives the bound
//! shapes before it compiles, so that engines that plan for fixed shapes (tract, OpenVINO, LiteRT, pnnx) plan
//! for the shapes that will be measured.

use crate::layout::swapped_shape;
use crate::{Layout, TensorInfo};
use serde::{Deserialize, Serialize};

/// The shape the scenario gives one model input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputShape {
    /// The input's name in the model file; `None` for a scenario's single unnamed input, which is the shape of
    /// the model's only input.
    pub name: Option<String>,
    /// In the scenario's dimension order (`layout`, for image inputs).
    pub shape: Vec<usize>,
    pub layout: Option<Layout>,
}

impl InputShape {
    /// The shape `shapes` give the input `name` of a model with `inputs` inputs: by name, or the unnamed one
    /// for a model's only input.
    pub fn find<'a>(shapes: &'a [InputShape], name: &str, inputs: usize) -> Option<&'a InputShape> {
        shapes.iter().find(|s| match &s.name {
            Some(given) => given == name,
            None => inputs == 1,
        })
    }
}

/// The shape each of `declared` (a model's inputs, as its file declares them) is bound to, in the file's
/// dimension order: an image input whose file wants the other layout gets the transposed shape. `None` where
/// the scenario does not give the input (it must then be fully declared). An error says which input does not
/// fit, and how.
pub fn bind_shapes(
    shapes: &[InputShape],
    declared: &[TensorInfo],
) -> Result<Vec<Option<Vec<usize>>>, String> {
    declared
        .iter()
        .map(|input| {
            let Some(given) = InputShape::find(shapes, &input.name, declared.len()) else {
                return Ok(None);
            };
            if input.accepts_shape(&given.shape) {
                return Ok(Some(given.shape.clone()));
            }
            match swapped_shape(&given.shape, given.layout) {
                Some((shape, _)) if input.accepts_shape(&shape) => Ok(Some(shape)),
                _ => Err(format!(
                    "model input `{}` is declared {}; the scenario's shape {:?} does not fit it",
                    input.name,
                    input.shape_text(),
                    given.shape
                )),
            }
        })
        .collect()
}

/// `declared` with each input's shape bound as [`bind_shapes`] binds it; an input left free is an error naming
/// the input and its free dimensions.
pub fn bound_inputs(
    shapes: &[InputShape],
    declared: &[TensorInfo],
) -> Result<Vec<TensorInfo>, String> {
    let bound = bind_shapes(shapes, declared)?;
    declared
        .iter()
        .zip(bound)
        .map(|(input, shape)| match shape {
            Some(shape) => Ok(TensorInfo {
                shape: shape.into_iter().map(Some).collect(),
                ..input.clone()
            }),
            None if input.shape.iter().all(Option::is_some) => Ok(input.clone()),
            None => Err(format!(
                "model input `{}` is declared {} and its free dimensions are not bound: give its shape in \
                 the scenario",
                input.name,
                input.shape_text()
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ElementType;

    fn declared(name: &str, shape: &[Option<usize>]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            shape: shape.to_vec(),
            element_type: ElementType::F32,
        }
    }

    fn given(name: Option<&str>, shape: &[usize], layout: Option<Layout>) -> InputShape {
        InputShape {
            name: name.map(str::to_string),
            shape: shape.to_vec(),
            layout,
        }
    }

    #[test]
    fn free_dimensions_are_bound_by_name_and_in_the_files_layout() {
        let model = [
            declared("image", &[None, None, None, Some(3)]),
            declared("scale", &[Some(1)]),
        ];
        let shapes = [given(Some("image"), &[1, 3, 640, 480], Some(Layout::Nchw))];
        let bound = bound_inputs(&shapes, &model).unwrap();
        assert_eq!(bound[0].shape_text(), "[1, 640, 480, 3]");
        assert_eq!(
            bound[1], model[1],
            "a fixed input the scenario leaves alone"
        );
    }

    #[test]
    fn an_unnamed_shape_binds_a_single_input_only() {
        let single = [declared("x", &[None, Some(4)])];
        let unnamed = [given(None, &[2, 4], None)];
        assert_eq!(
            bind_shapes(&unnamed, &single).unwrap(),
            vec![Some(vec![2, 4])]
        );
        let two = [declared("a", &[None]), declared("b", &[Some(1)])];
        let err = bound_inputs(&unnamed, &two).unwrap_err();
        assert!(err.contains("`a` is declared [?]"), "{err}");
    }

    #[test]
    fn a_shape_that_does_not_fit_names_the_input() {
        let model = [declared("ids", &[Some(1), None])];
        let err = bind_shapes(&[given(Some("ids"), &[1, 2, 3], None)], &model).unwrap_err();
        assert!(err.contains("`ids` is declared [1, ?]"), "{err}");
        assert!(err.contains("[1, 2, 3]"), "{err}");
    }
}
