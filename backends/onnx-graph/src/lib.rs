//! ONNX graphs as data, for backends whose engine needs help: what a model's inputs and outputs are, and
//! semantics-preserving rewrites (today: `Clip` with constant bound inputs to its attribute form, for
//! importers that predate opset 11).

pub mod rewrite;

use harness_backend_api::{ElementType, TensorInfo};
use prost::Message;
use tract_onnx::pb;

pub use tract_onnx::pb::ModelProto;

/// Decodes an ONNX file's bytes.
pub fn decode(bytes: &[u8]) -> Result<ModelProto, String> {
    ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))
}

pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// The graph's real inputs (those that are not initializers) and its outputs, as the file declares them.
pub fn inputs_and_outputs(
    model: &ModelProto,
) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>), String> {
    let graph = model.graph.as_ref().ok_or("the model has no graph")?;
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph
        .input
        .iter()
        .filter(|v| !initializers.contains(&v.name.as_str()))
        .map(describe)
        .collect::<Result<_, _>>()?;
    let outputs = graph
        .output
        .iter()
        .map(describe)
        .collect::<Result<_, _>>()?;
    Ok((inputs, outputs))
}

fn describe(value: &pb::ValueInfoProto) -> Result<TensorInfo, String> {
    let Some(pb::type_proto::Value::TensorType(tensor)) =
        value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(format!("`{}` is not a tensor", value.name));
    };
    let element_type = match pb::tensor_proto::DataType::try_from(tensor.elem_type) {
        Ok(pb::tensor_proto::DataType::Float) => ElementType::F32,
        Ok(pb::tensor_proto::DataType::Uint8) => ElementType::U8,
        Ok(pb::tensor_proto::DataType::Int8) => ElementType::I8,
        _ => {
            return Err(format!(
                "`{}` has ONNX element type {}; the harness takes f32, u8 and i8",
                value.name, tensor.elem_type
            ))
        }
    };
    let shape = tensor
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                        usize::try_from(v).ok()
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(TensorInfo {
        name: value.name.clone(),
        shape,
        element_type,
    })
}

/// The opset the model declares for the default ONNX domain.
pub fn default_opset(model: &ModelProto) -> Option<i64> {
    model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
}
