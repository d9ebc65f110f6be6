//! ONNX graphs as data, for backends whose engine needs help: what a model's inputs and outputs are, and
//! semantics-preserving rewrites (today: `Clip` with constant bound inputs to its attribute form, for
//! importers that predate opset 11).

pub mod build;
pub mod rewrite;

use harness_backend_api::{BackendError, ElementType, LoadRequest, TensorInfo};
use prost::encoding::WireType;
use prost::Message;
/// The ONNX protobuf types, for code that builds or edits graphs.
pub use tract_onnx::pb;
pub use tract_onnx::pb::ModelProto;

/// Decodes an ONNX file's bytes.
pub fn decode(bytes: &[u8]) -> Result<ModelProto, String> {
    ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))
}

/// A float model read for `engine`, which computes in f32 only: the decoded file and its inputs and outputs.
pub struct FloatModel {
    pub proto: ModelProto,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}

/// Reads the requested ONNX file for an engine that computes in f32 only: a load error names the path; an input
/// or output that is not f32 is `Unsupported`, with `why` said after its type. The inputs come with the
/// scenario's shapes bound.
pub fn read_float_model(request: &LoadRequest<'_>, why: &str) -> Result<FloatModel, BackendError> {
    let load_error = |reason: String| request.error(reason);
    let bytes = std::fs::read(request.model)
        .map_err(|e| load_error(format!("cannot read the file: {e}")))?;
    let proto = decode(&bytes).map_err(load_error)?;
    let (inputs, outputs) = inputs_and_outputs(&proto).map_err(load_error)?;
    if let Some(tensor) = inputs
        .iter()
        .chain(&outputs)
        .find(|t| t.element_type != ElementType::F32)
    {
        return Err(BackendError::unsupported(
            request.engine,
            format!("`{}` of type {} ({why})", tensor.name, tensor.element_type),
        ));
    }
    Ok(FloatModel {
        proto,
        inputs: request.bound_inputs(&inputs)?,
        outputs,
    })
}

/// Encodes a model so that every FLOAT attribute carries its value, also 0.0.
///
/// The ONNX schema is proto2, where a field's presence is information: importers such as OpenCV's check
/// `has_f()` and refuse an attribute without it. These prost types are proto3-style and leave zeros out, so the
/// top-level graph's nodes are encoded here with the value of every float attribute written explicitly.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    let Some(graph) = &model.graph else {
        return model.encode_to_vec();
    };
    // Fields may come in any order; repeated ones keep theirs. Graph and nodes go after everything else.
    let mut out = ModelProto {
        graph: None,
        ..model.clone()
    }
    .encode_to_vec();
    let mut graph_bytes = pb::GraphProto {
        node: Vec::new(),
        ..graph.clone()
    }
    .encode_to_vec();
    for node in &graph.node {
        let mut node_bytes = pb::NodeProto {
            attribute: Vec::new(),
            ..node.clone()
        }
        .encode_to_vec();
        for attribute in &node.attribute {
            let mut bytes = attribute.encode_to_vec();
            if attribute.r#type == pb::attribute_proto::AttributeType::Float as i32
                && attribute.f == 0.0
            {
                put_field(
                    &mut bytes,
                    2,
                    WireType::ThirtyTwoBit,
                    &attribute.f.to_le_bytes(),
                );
            }
            put_field(&mut node_bytes, 5, WireType::LengthDelimited, &bytes);
        }
        put_field(&mut graph_bytes, 1, WireType::LengthDelimited, &node_bytes);
    }
    put_field(&mut out, 7, WireType::LengthDelimited, &graph_bytes);
    out
}

/// Appends one field: its key, its length for length-delimited ones, its payload.
fn put_field(out: &mut Vec<u8>, tag: u32, wire_type: WireType, payload: &[u8]) {
    prost::encoding::encode_key(tag, wire_type, out);
    if wire_type == WireType::LengthDelimited {
        prost::encoding::encode_varint(payload.len() as u64, out);
    }
    out.extend_from_slice(payload);
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

/// The names the file gives each free dimension of each real input (`batch`, `sequence`), in input order;
/// `None` for a fixed or unnamed dimension.
pub fn input_dimension_names(model: &ModelProto) -> Vec<Vec<Option<String>>> {
    let Some(graph) = model.graph.as_ref() else {
        return Vec::new();
    };
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph
        .input
        .iter()
        .filter(|v| !initializers.contains(&v.name.as_str()))
        .map(
            |value| match value.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(pb::type_proto::Value::TensorType(tensor)) => tensor
                    .shape
                    .iter()
                    .flat_map(|s| &s.dim)
                    .map(|d| match &d.value {
                        Some(pb::tensor_shape_proto::dimension::Value::DimParam(name))
                            if !name.is_empty() =>
                        {
                            Some(name.clone())
                        }
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            },
        )
        .collect()
}

fn describe(value: &pb::ValueInfoProto) -> Result<TensorInfo, String> {
    let Some(pb::type_proto::Value::TensorType(tensor)) =
        value.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(format!("`{}` is not a tensor", value.name));
    };
    let element_type = element_type(tensor.elem_type).ok_or_else(|| {
        let name = pb::tensor_proto::DataType::try_from(tensor.elem_type).map_or_else(
            |_| tensor.elem_type.to_string(),
            |t| t.as_str_name().to_string(),
        );
        format!(
            "`{}` has ONNX element type {name}, which the harness does not exchange with engines",
            value.name
        )
    })?;
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

/// The harness's element type for an ONNX `TensorProto.DataType` code.
pub fn element_type(code: i32) -> Option<ElementType> {
    ElementType::ALL
        .iter()
        .copied()
        .find(|&t| onnx_type(t) == code)
}

/// The ONNX `TensorProto.DataType` code of one of the harness's element types.
pub fn onnx_type(element_type: ElementType) -> i32 {
    use pb::tensor_proto::DataType;
    let code = match element_type {
        ElementType::F32 => DataType::Float,
        ElementType::F16 => DataType::Float16,
        ElementType::F64 => DataType::Double,
        ElementType::I64 => DataType::Int64,
        ElementType::I32 => DataType::Int32,
        ElementType::I8 => DataType::Int8,
        ElementType::U8 => DataType::Uint8,
        ElementType::Bool => DataType::Bool,
    };
    code as i32
}

/// The opset the model declares for the default ONNX domain.
pub fn default_opset(model: &ModelProto) -> Option<i64> {
    model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_float_attribute_keeps_its_value_on_the_wire() {
        let zero = pb::AttributeProto {
            name: "min".into(),
            r#type: pb::attribute_proto::AttributeType::Float as i32,
            f: 0.0,
            ..Default::default()
        };
        // prost alone leaves the zero out: the attribute has no value at all for a proto2 reader.
        assert!(!zero.encode_to_vec().ends_with(&[0x15, 0, 0, 0, 0]));
        let model = ModelProto {
            graph: Some(pb::GraphProto {
                node: vec![pb::NodeProto {
                    op_type: "Clip".into(),
                    attribute: vec![zero],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let bytes = encode(&model);
        // Field 2 (float, wire type 5) with 0.0 follows the attribute's other fields.
        assert!(bytes.windows(5).any(|w| w == [0x15, 0, 0, 0, 0]));
        assert_eq!(decode(&bytes).unwrap(), model);
    }
}
