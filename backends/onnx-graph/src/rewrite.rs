//! Semantics-preserving rewrites for older ONNX importers.
//!
//! `Clip` took its bounds as attributes until opset 11 and as optional inputs since. PyTorch exports ReLU6 in
//! the input form, which importers written for opset < 11 (OpenCV 4.6) refuse. When every bound is a constant,
//! the attribute form computes exactly the same; the model then declares opset 10, which is only valid if every
//! other operator means the same at opset 10 as at the model's opset, so the rewrite checks that too and
//! refuses otherwise, saying why.

use crate::{default_opset, ModelProto};
use tract_onnx::pb;

/// A model after a rewrite, and what was done to it (recorded beside the results).
pub struct Rewritten {
    pub model: ModelProto,
    pub description: String,
}

/// Operators whose definition is the same at opset 10 as at 11–13 for the attributes and inputs they carry.
/// (Not Pad, Resize, Squeeze, Unsqueeze, Softmax, Split, Reduce*, Slice...: they changed.)
const UNCHANGED_SINCE_OPSET_10: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "HardSigmoid",
    "Identity",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "Mul",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Sub",
    "Tanh",
    "Transpose",
];

/// Rewrites every `Clip` whose bounds are inputs into the attribute form and declares opset 10.
/// Returns `Ok(None)` when no `Clip` needs it, and an error naming the node when a bound is not a constant
/// or another operator would change meaning at opset 10.
pub fn clip_bounds_to_attributes(model: &ModelProto) -> Result<Option<Rewritten>, String> {
    let graph = model.graph.as_ref().ok_or("the model has no graph")?;
    let needs = |n: &pb::NodeProto| n.op_type == "Clip" && n.input.len() > 1;
    if !graph.node.iter().any(needs) {
        return Ok(None);
    }
    let opset = default_opset(model).ok_or("the model declares no default-domain opset")?;
    if let Some(node) = graph.node.iter().find(|n| {
        n.op_type != "Clip"
            && (!n.domain.is_empty() || !UNCHANGED_SINCE_OPSET_10.contains(&n.op_type.as_str()))
    }) {
        return Err(format!(
            "cannot declare opset 10 for this opset-{opset} model: operator {} (node `{}`) is not known to mean the \
             same there",
            node.op_type, node.name
        ));
    }

    let mut rewritten = model.clone();
    let graph = rewritten.graph.as_mut().expect("checked above");
    let mut count = 0;
    for index in 0..graph.node.len() {
        if !needs(&graph.node[index]) {
            continue;
        }
        let node = &graph.node[index];
        let bound = |position: usize| -> Result<Option<f32>, String> {
            match node.input.get(position).filter(|name| !name.is_empty()) {
                None => Ok(None),
                Some(name) => constant_scalar(graph, name).map(Some).ok_or_else(|| {
                    format!(
                        "Clip node `{}` takes its {} from `{name}`, which is not a constant scalar, so it cannot be \
                         rewritten to the attribute form",
                        node.name,
                        if position == 1 { "min" } else { "max" }
                    )
                }),
            }
        };
        let (min, max) = (bound(1)?, bound(2)?);
        let node = &mut graph.node[index];
        node.input.truncate(1);
        for (name, value) in [("min", min), ("max", max)] {
            if let Some(value) = value {
                node.attribute.push(pb::AttributeProto {
                    name: name.to_string(),
                    r#type: pb::attribute_proto::AttributeType::Float as i32,
                    f: value,
                    ..Default::default()
                });
            }
        }
        count += 1;
    }
    for import in rewritten
        .opset_import
        .iter_mut()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
    {
        import.version = 10;
    }
    Ok(Some(Rewritten {
        model: rewritten,
        description: format!("{count} Clip nodes with constant bound inputs rewritten to attributes; opset {opset} declared as 10"),
    }))
}

/// The value of `name` when it is a one-element float constant: an initializer or a `Constant` node's output.
fn constant_scalar(graph: &pb::GraphProto, name: &str) -> Option<f32> {
    let tensor = graph
        .initializer
        .iter()
        .find(|t| t.name == name)
        .or_else(|| {
            graph
                .node
                .iter()
                .find(|n| n.op_type == "Constant" && n.output.first().is_some_and(|o| o == name))
                .and_then(|n| n.attribute.iter().find(|a| a.name == "value"))
                .and_then(|a| a.t.as_ref())
        })?;
    if tensor.data_type != pb::tensor_proto::DataType::Float as i32
        || tensor.dims.iter().product::<i64>() != 1
    {
        return None;
    }
    match (tensor.float_data.as_slice(), tensor.raw_data.as_slice()) {
        ([value], _) => Some(*value),
        ([], raw) if raw.len() == 4 => Some(f32::from_le_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};
    use tract_onnx::prelude::*;

    fn scalar(name: &str, value: f32) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: value.to_le_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{dimension, Dimension};
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: pb::tensor_proto::DataType::Float as i32,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(dimension::Value::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// x (1×4) → Mul by 3 → Clip(0, 6) with the bounds as inputs (as PyTorch exports ReLU6), opset 13.
    /// `min_from_input` makes the lower bound a graph input instead of a constant.
    fn relu6_model(min_from_input: bool) -> ModelProto {
        let mut graph = pb::GraphProto {
            name: "relu6".into(),
            node: vec![
                node("Mul", "scale", &["x", "three"], &["scaled"]),
                node("Clip", "relu6", &["scaled", "low", "high"], &["y"]),
            ],
            initializer: vec![scalar("three", 3.0), scalar("high", 6.0)],
            input: vec![value_info("x", &[1, 4])],
            output: vec![value_info("y", &[1, 4])],
            ..Default::default()
        };
        if min_from_input {
            graph.input.push(value_info("low", &[]));
        } else {
            // The lower bound as a Constant node, the other form exporters use.
            let mut constant = node("Constant", "low_const", &[], &["low"]);
            constant.attribute.push(pb::AttributeProto {
                name: "value".into(),
                r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                t: Some(scalar("", 0.0)),
                ..Default::default()
            });
            graph.node.insert(0, constant);
        }
        ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            graph: Some(graph),
            ..Default::default()
        }
    }

    /// Runs `model` with tract on one input and returns its first output.
    fn run_with_tract(model: &ModelProto, input: tract_onnx::prelude::Tensor) -> Vec<f32> {
        let bytes = encode(model);
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let out = plan.run(tvec!(input.into())).unwrap();
        out[0]
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    fn row(x: &[f32]) -> tract_onnx::prelude::Tensor {
        tract_ndarray::Array2::from_shape_vec((1, x.len()), x.to_vec())
            .unwrap()
            .into_tensor()
    }

    #[test]
    fn constant_bounds_become_attributes_and_the_outputs_stay_the_same() {
        let original = relu6_model(false);
        let rewritten = clip_bounds_to_attributes(&original)
            .unwrap()
            .expect("a rewrite");
        assert_eq!(
            rewritten.description,
            "1 Clip nodes with constant bound inputs rewritten to attributes; opset 13 declared as 10"
        );
        let model = decode(&encode(&rewritten.model)).unwrap();
        assert_eq!(default_opset(&model), Some(10));
        let clip = model
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .find(|n| n.op_type == "Clip")
            .unwrap();
        assert_eq!(clip.input, vec!["scaled"]);
        let attributes: Vec<(&str, f32)> = clip
            .attribute
            .iter()
            .map(|a| (a.name.as_str(), a.f))
            .collect();
        assert_eq!(attributes, vec![("min", 0.0), ("max", 6.0)]);

        let x = [-1.0, 0.5, 1.9, 4.0];
        let expected = [0.0, 1.5, 5.7, 6.0];
        let before = run_with_tract(&original, row(&x));
        let after = run_with_tract(&rewritten.model, row(&x));
        assert_eq!(before, after);
        for (got, want) in after.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{after:?}");
        }
    }

    #[test]
    fn a_bound_that_is_not_a_constant_is_refused_with_the_node_named() {
        let err = clip_bounds_to_attributes(&relu6_model(true)).err().unwrap();
        assert_eq!(
            err,
            "Clip node `relu6` takes its min from `low`, which is not a constant scalar, so it cannot be rewritten \
             to the attribute form"
        );
    }

    #[test]
    fn an_operator_that_changed_since_opset_10_blocks_the_rewrite() {
        let mut model = relu6_model(false);
        let graph = model.graph.as_mut().unwrap();
        graph
            .node
            .push(node("Softmax", "probabilities", &["y"], &["p"]));
        let err = clip_bounds_to_attributes(&model).err().unwrap();
        assert!(
            err.contains("operator Softmax (node `probabilities`)"),
            "{err}"
        );
    }

    #[test]
    fn a_model_without_input_bounds_needs_no_rewrite() {
        let mut model = relu6_model(false);
        let graph = model.graph.as_mut().unwrap();
        graph.node.retain(|n| n.op_type != "Clip");
        assert!(clip_bounds_to_attributes(&model).unwrap().is_none());
    }

    #[test]
    fn mobilenet_v2_is_rewritten_and_tract_computes_the_same_logits() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/mobilenet_v2/mobilenet_v2.onnx"
        );
        let original = decode(&std::fs::read(path).unwrap()).unwrap();
        let rewritten = clip_bounds_to_attributes(&original)
            .unwrap()
            .expect("MobileNetV2 has ReLU6 Clips");
        assert!(
            rewritten.description.starts_with("35 Clip nodes"),
            "{}",
            rewritten.description
        );
        let x = tract_ndarray::Array4::from_shape_fn((1, 3, 224, 224), |(_, c, y, x)| {
            ((c * 7 + y * 3 + x) % 17) as f32 / 17.0 - 0.5
        })
        .into_tensor();
        assert_eq!(
            run_with_tract(&original, x.clone()),
            run_with_tract(&rewritten.model, x)
        );
    }
}
