//! Small ONNX graphs built in code: for tests that need a model with one or two known operators.

use crate::pb;
use harness_backend_api::ElementType;
use pb::attribute_proto::AttributeType;

/// A float tensor's name and static shape, as graph inputs and outputs declare them (an empty shape leaves the
/// shape unstated).
pub fn value_info(name: &str, shape: &[usize]) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|&d| pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(
                                d as i64,
                            )),
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

/// A float initializer.
pub fn floats(name: &str, dims: &[usize], values: &[f32]) -> pb::TensorProto {
    assert_eq!(
        dims.iter().product::<usize>(),
        values.len(),
        "{name}: shape and values disagree"
    );
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

/// A 1-D int64 initializer (shapes, pads).
pub fn int64s(name: &str, values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

pub fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

pub fn ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

pub fn float(name: &str, value: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

pub fn string(name: &str, value: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A node named `the_<op>` reading `inputs` and writing `output`.
pub fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attributes: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        name: format!("the_{}", op.to_lowercase()),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attributes,
        ..Default::default()
    }
}

/// A model of one graph at `opset`: `nodes` over the input `x` (of `x_shape`) and initializers, with the
/// output `y` (of `y_shape`, empty when unstated).
pub fn model(
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    x_shape: &[usize],
    y_shape: &[usize],
    opset: i64,
) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        graph: Some(pb::GraphProto {
            name: "test".into(),
            node: nodes,
            initializer: initializers,
            input: vec![value_info("x", x_shape)],
            output: vec![value_info("y", y_shape)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A graph input or output of any element type; each dimension is a number, or a name for a free dimension
/// (`"batch"`, `"sequence"`), as exporters write them.
pub fn tensor(name: &str, element_type: ElementType, dims: &[&str]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::dimension::Value;
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: crate::onnx_type(element_type),
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| pb::tensor_shape_proto::Dimension {
                            value: Some(match d.parse::<i64>() {
                                Ok(size) => Value::DimValue(size),
                                Err(_) => Value::DimParam(d.to_string()),
                            }),
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

/// A model of one graph at `opset` with any inputs and outputs, in the order given.
pub fn graph(
    inputs: Vec<pb::ValueInfoProto>,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    outputs: Vec<pb::ValueInfoProto>,
    opset: i64,
) -> pb::ModelProto {
    let mut model = model(nodes, initializers, &[], &[], opset);
    let graph = model.graph.as_mut().expect("model() makes a graph");
    graph.input = inputs;
    graph.output = outputs;
    model
}
