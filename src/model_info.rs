//! What a model file asks of an engine, independent of any engine's speed: parameters, multiply-accumulates
//! and the operators it is made of. `harness inspect` prints it; runs use the MACs for GMAC/s.
//!
//! A multiply-accumulate is counted for every kernel tap of a convolution (grouped and depthwise ones per
//! group) and every term of a matrix product (Gemm, MatMul, fully connected). TFLite files state every tensor's
//! shape, so they are counted from the file alone; ONNX shapes come from tract's typed model of the file, whose
//! cost model counts the same way (and also counts an unfolded BatchNormalization's multiply-add). The operator
//! histogram is read from the file itself, in the file's own operator names.

use anyhow::{bail, Context, Result};
use harness_backend_api::{ElementType, ModelFormat, TensorInfo};
use serde::Serialize;
use std::path::Path;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::DimLike;
use tract_onnx::tract_core::ops::Cost;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    pub format: ModelFormat,
    /// Elements of every constant tensor in the file (weights, biases, and small constants alike).
    pub params: u64,
    /// Multiply-accumulates of one inference, batch as in the file.
    pub macs: u64,
    /// Operators in the file's own names, with how often each occurs, most frequent first.
    pub ops: Vec<(String, usize)>,
}

impl ModelInfo {
    pub fn read(path: &Path, format: ModelFormat) -> Result<ModelInfo> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let info = match format {
            ModelFormat::Onnx => onnx_info(&bytes),
            ModelFormat::Tflite => tflite_info(&bytes),
        };
        info.with_context(|| format!("cannot analyse {}", path.display()))
    }
}

/// A model input as its file declares it: free dimensions as `None`, with the names the file gives them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeclaredInput {
    pub info: TensorInfo,
    /// Per dimension: the file's name for a free one (`batch`, `sequence`), if it has one.
    pub dimension_names: Vec<Option<String>>,
}

impl DeclaredInput {
    /// The shape with `N` for each free dimension, for an example the user completes: `["1", "N"]`.
    pub fn dimensions_to_size(&self) -> Vec<String> {
        self.info
            .shape
            .iter()
            .map(|d| d.map_or_else(|| "N".to_string(), |d| d.to_string()))
            .collect()
    }

    /// The shape with free dimensions by name, or `?`: `[1, sequence]`.
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self
            .info
            .shape
            .iter()
            .enumerate()
            .map(|(axis, dim)| match (dim, self.dimension_names.get(axis)) {
                (Some(size), _) => size.to_string(),
                (None, Some(Some(name))) => name.clone(),
                (None, _) => "?".to_string(),
            })
            .collect();
        format!("[{}]", dims.join(", "))
    }
}

/// The model's inputs as its file declares them, without any engine: what a scenario written for the file
/// alone must describe.
pub fn declared_inputs(path: &Path, format: ModelFormat) -> Result<Vec<DeclaredInput>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let inputs = match format {
        ModelFormat::Onnx => harness_onnx_graph::decode(&bytes)
            .and_then(|model| {
                let (inputs, _) = harness_onnx_graph::inputs_and_outputs(&model)?;
                let names = harness_onnx_graph::input_dimension_names(&model);
                Ok(inputs
                    .into_iter()
                    .zip(names)
                    .map(|(info, dimension_names)| DeclaredInput {
                        info,
                        dimension_names,
                    })
                    .collect())
            })
            .map_err(anyhow::Error::msg),
        ModelFormat::Tflite => tflite_inputs(&bytes).map(|inputs| {
            inputs
                .into_iter()
                .map(|info| DeclaredInput {
                    info,
                    dimension_names: Vec::new(),
                })
                .collect()
        }),
    };
    inputs.with_context(|| format!("cannot read the inputs of {}", path.display()))
}

/// The shapes the scenario gives `model`'s inputs.
fn scenario_shapes(model: &crate::scenario::Model) -> Vec<harness_backend_api::InputShape> {
    model
        .inputs
        .iter()
        .map(crate::inputs::InputDescription::bound_shape)
        .collect()
}

/// The scenario's shapes against the fixed dimensions each file of `model` declares, before any input is made:
/// a shape the file cannot take is an error naming the input and both shapes. A file this harness cannot read
/// is left to the engines, whose rows say why.
pub fn check_shapes(model: &crate::scenario::Model) -> Result<()> {
    let shapes = scenario_shapes(model);
    for (&format, file) in &model.files {
        let Ok(declared) = declared_inputs(file, format) else {
            continue;
        };
        let inputs: Vec<TensorInfo> = declared.into_iter().map(|input| input.info).collect();
        harness_backend_api::bind_shapes(&shapes, &inputs)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("model `{}`, {}", model.name, file.display()))?;
    }
    Ok(())
}

/// `harness check`'s look at each model file, without any engine: it must read as the format it is given as,
/// declare outputs, and take the scenario's input shapes (named inputs it has, fixed dimensions that match,
/// free ones bound). A run does not stop for these: each engine then says why it cannot load the file.
pub fn check_files(model: &crate::scenario::Model) -> Result<()> {
    let shapes = scenario_shapes(model);
    for (&format, file) in &model.files {
        let inputs: Vec<TensorInfo> = declared_inputs(file, format)?
            .into_iter()
            .map(|input| input.info)
            .collect();
        declared_outputs(file, format)?;
        let context = || format!("model `{}`, {}", model.name, file.display());
        for name in shapes.iter().filter_map(|s| s.name.as_deref()) {
            if !inputs.iter().any(|input| input.name == name) {
                let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
                anyhow::bail!(
                    "{}: the scenario describes input `{name}`, which the file does not have (its inputs: {})",
                    context(),
                    names.join(", ")
                );
            }
        }
        harness_backend_api::bound_inputs(&shapes, &inputs)
            .map_err(anyhow::Error::msg)
            .with_context(context)?;
    }
    Ok(())
}

/// The model's outputs as its file declares them, in order.
pub fn declared_outputs(path: &Path, format: ModelFormat) -> Result<Vec<TensorInfo>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let outputs = match format {
        ModelFormat::Onnx => harness_onnx_graph::decode(&bytes)
            .and_then(|model| Ok(harness_onnx_graph::inputs_and_outputs(&model)?.1))
            .map_err(anyhow::Error::msg),
        ModelFormat::Tflite => tflite_tensors(&bytes, Side::Outputs),
    };
    outputs.with_context(|| format!("cannot read the outputs of {}", path.display()))
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Inputs,
    Outputs,
}

fn tflite_inputs(bytes: &[u8]) -> Result<Vec<TensorInfo>> {
    tflite_tensors(bytes, Side::Inputs)
}

fn tflite_tensors(bytes: &[u8], side: Side) -> Result<Vec<TensorInfo>> {
    use tract_tflite::tflite::{root_as_model, TensorType};
    let types = [
        (TensorType::FLOAT32, ElementType::F32),
        (TensorType::FLOAT16, ElementType::F16),
        (TensorType::FLOAT64, ElementType::F64),
        (TensorType::INT64, ElementType::I64),
        (TensorType::INT32, ElementType::I32),
        (TensorType::INT8, ElementType::I8),
        (TensorType::UINT8, ElementType::U8),
        (TensorType::BOOL, ElementType::Bool),
    ];
    let model = root_as_model(bytes).map_err(|e| anyhow::anyhow!("not a TFLite model: {e}"))?;
    let subgraph = model
        .subgraphs()
        .and_then(|s| s.iter().next())
        .context("no subgraph")?;
    let tensors = subgraph.tensors().context("no tensors")?;
    let (indices, what) = match side {
        Side::Inputs => (subgraph.inputs().context("no inputs")?, "input"),
        Side::Outputs => (subgraph.outputs().context("no outputs")?, "output"),
    };
    indices
        .iter()
        .map(|index| {
            let tensor = usize::try_from(index)
                .ok()
                .filter(|&i| i < tensors.len())
                .map(|i| tensors.get(i))
                .with_context(|| format!("{what} tensor {index} does not exist"))?;
            let name = tensor.name().unwrap_or_default().to_string();
            let element_type = types
                .iter()
                .find(|(t, _)| *t == tensor.type_())
                .map(|&(_, e)| e)
                .with_context(|| {
                    format!("{what} `{name}` has a type the harness does not exchange")
                })?;
            // The signature marks free dimensions with -1; the shape holds 1 for them.
            let dims = tensor.shape_signature().or(tensor.shape());
            Ok(TensorInfo {
                name,
                shape: dims.map_or_else(Vec::new, |d| {
                    d.iter().map(|d| usize::try_from(d).ok()).collect()
                }),
                element_type,
            })
        })
        .collect()
}

fn onnx_info(bytes: &[u8]) -> Result<ModelInfo> {
    let model = harness_onnx_graph::decode(bytes).map_err(anyhow::Error::msg)?;
    let graph = model.graph.context("the model has no graph")?;
    let elements = |t: &harness_onnx_graph::pb::TensorProto| {
        t.dims.iter().map(|&d| d.max(0) as u64).product::<u64>()
    };
    // Initializers, and the tensors of Constant nodes (exporters put weights in either).
    let params = graph.initializer.iter().map(elements).sum::<u64>()
        + graph
            .node
            .iter()
            .filter(|n| n.op_type == "Constant")
            .flat_map(|n| &n.attribute)
            .filter_map(|a| a.t.as_ref())
            .map(elements)
            .sum::<u64>();
    let ops = histogram(graph.node.into_iter().map(|n| n.op_type));
    // tract's importers can panic on files they do not expect; that must cost only the analysis.
    let typed = std::panic::catch_unwind(|| {
        tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])?
            .into_typed()
    })
    .map_err(|_| anyhow::anyhow!("tract failed while reading the graph"))?
    .map_err(|e| anyhow::anyhow!("tract cannot work out the shapes: {e:#}"))?;
    let macs = macs(&typed)?;
    Ok(ModelInfo {
        format: ModelFormat::Onnx,
        params,
        macs,
        ops,
    })
}

/// Sums tract's per-node multiply-accumulate costs.
fn macs(model: &TypedModel) -> Result<u64> {
    let mut macs = 0u64;
    for node in model.nodes() {
        let inputs = model
            .node_input_facts(node.id)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        for (cost, count) in node
            .op
            .cost(&inputs)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?
        {
            if matches!(cost, Cost::FMA(_)) {
                let Ok(count) = count.to_usize() else {
                    bail!(
                        "node `{}` has a cost that depends on a symbolic dimension ({count})",
                        node.name
                    );
                };
                macs += count as u64;
            }
        }
    }
    Ok(macs)
}

fn histogram(names: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for name in names {
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    // Most frequent first; ties in order of first appearance (the sort is stable).
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
}

fn tflite_info(bytes: &[u8]) -> Result<ModelInfo> {
    use tract_tflite::tflite::{root_as_model, BuiltinOperator};
    let model = root_as_model(bytes).map_err(|e| anyhow::anyhow!("not a TFLite model: {e}"))?;
    let subgraph = model
        .subgraphs()
        .and_then(|s| s.iter().next())
        .context("no subgraph")?;
    let tensors = subgraph.tensors().context("no tensors")?;
    let buffers = model.buffers();
    let shape = |index: i32| -> Result<Vec<u64>> {
        let tensor = usize::try_from(index)
            .ok()
            .filter(|&i| i < tensors.len())
            .map(|i| tensors.get(i))
            .with_context(|| format!("tensor {index} does not exist"))?;
        Ok(tensor
            .shape()
            .map_or_else(Vec::new, |s| s.iter().map(|d| d.max(0) as u64).collect()))
    };
    // Constants are the tensors whose buffer holds data.
    let mut params = 0u64;
    for tensor in tensors.iter() {
        let index = tensor.buffer() as usize;
        let has_data = buffers
            .filter(|b| index < b.len())
            .and_then(|b| b.get(index).data())
            .is_some_and(|d| !d.is_empty());
        if has_data {
            params += tensor
                .shape()
                .map_or(1, |s| s.iter().map(|d| d.max(0) as u64).product());
        }
    }
    let (mut macs, mut names) = (0u64, Vec::new());
    for (builtin, inputs, outputs) in tflite_operators(&model)? {
        names.push(builtin_name(builtin));
        let output: u64 = match outputs.first() {
            Some(&index) => shape(index)?.iter().product(),
            None => 0,
        };
        let weights = inputs
            .get(1)
            .map(|&i| shape(i))
            .transpose()?
            .unwrap_or_default();
        macs += match builtin {
            // Filter [C_out, kh, kw, C_in]: every output element takes kh·kw·C_in products.
            BuiltinOperator::CONV_2D => output * weights.iter().skip(1).product::<u64>(),
            // Filter [1, kh, kw, C]: every output element takes kh·kw products.
            BuiltinOperator::DEPTHWISE_CONV_2D => {
                output * weights.get(1..3).map_or(0, |k| k.iter().product())
            }
            // Weights [units, depth]: every output element takes `depth` products.
            BuiltinOperator::FULLY_CONNECTED => output * weights.last().copied().unwrap_or(0),
            // [.., M, K] × [.., K, N]: every output element takes K products.
            BuiltinOperator::BATCH_MATMUL => {
                let lhs = inputs
                    .first()
                    .map(|&i| shape(i))
                    .transpose()?
                    .unwrap_or_default();
                output * lhs.last().copied().unwrap_or(0)
            }
            _ => 0,
        };
    }
    Ok(ModelInfo {
        format: ModelFormat::Tflite,
        params,
        macs,
        ops: histogram(names.into_iter()),
    })
}

/// A TFLite operator: its builtin code, its input and its output tensor indices.
type TfliteOperator = (tract_tflite::tflite::BuiltinOperator, Vec<i32>, Vec<i32>);

/// Each operator of a TFLite file's first subgraph.
fn tflite_operators(model: &tract_tflite::tflite::Model<'_>) -> Result<Vec<TfliteOperator>> {
    use tract_tflite::tflite::BuiltinOperator;
    let codes = model.operator_codes().context("no operator codes")?;
    let subgraph = model
        .subgraphs()
        .and_then(|s| s.iter().next())
        .context("no subgraph")?;
    let mut operators = Vec::new();
    for op in subgraph.operators().into_iter().flatten() {
        let index = op.opcode_index() as usize;
        if index >= codes.len() {
            bail!(
                "an operator refers to operator code {index} of {}",
                codes.len()
            );
        }
        let code = codes.get(index);
        // Files from before the 127-operator limit keep the code in the deprecated field: the larger one counts.
        let builtin = BuiltinOperator(
            code.builtin_code()
                .0
                .max(i32::from(code.deprecated_builtin_code())),
        );
        let inputs: Vec<i32> = op.inputs().map_or_else(Vec::new, |v| v.iter().collect());
        let outputs: Vec<i32> = op.outputs().map_or_else(Vec::new, |v| v.iter().collect());
        operators.push((builtin, inputs, outputs));
    }
    Ok(operators)
}

fn builtin_name(builtin: tract_tflite::tflite::BuiltinOperator) -> String {
    builtin
        .variant_name()
        .map_or_else(|| format!("builtin {}", builtin.0), str::to_string)
}

/// What a convolution of the file is, by its weights: the classes a profile tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvolutionKind {
    /// One filter per channel (groups = channels).
    Depthwise,
    /// A 1×1 kernel over all channels.
    Pointwise,
    /// Any other convolution.
    Full,
}

/// One node of a model file as a profile relates to it: its name (empty when the file gives none), the
/// tensors it reads and writes (engines name their nodes after either), its operator, and what kind of
/// convolution it is.
#[derive(Clone, Debug, PartialEq)]
pub struct FileNode {
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub op_type: String,
    pub convolution: Option<ConvolutionKind>,
}

/// The file's nodes, in file order.
pub fn file_nodes(path: &Path, format: ModelFormat) -> Result<Vec<FileNode>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    match format {
        ModelFormat::Onnx => onnx_nodes(&bytes),
        ModelFormat::Tflite => tflite_nodes(&bytes),
    }
    .with_context(|| format!("cannot read the graph of {}", path.display()))
}

fn onnx_nodes(bytes: &[u8]) -> Result<Vec<FileNode>> {
    let model = harness_onnx_graph::decode(bytes).map_err(anyhow::Error::msg)?;
    let graph = model.graph.context("the model has no graph")?;
    let weights: std::collections::HashMap<&str, &[i64]> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t.dims.as_slice()))
        .collect();
    Ok(graph
        .node
        .iter()
        .map(|node| {
            let convolution = (node.op_type == "Conv").then(|| {
                let group = node
                    .attribute
                    .iter()
                    .find(|a| a.name == "group")
                    .map_or(1, |a| a.i);
                // Weights [M, C/group, kh, kw].
                let dims = node.input.get(1).and_then(|w| weights.get(w.as_str()));
                match dims {
                    Some(&[_, 1, ..]) if group > 1 => ConvolutionKind::Depthwise,
                    Some(&[_, _, 1, 1]) if group == 1 => ConvolutionKind::Pointwise,
                    _ => ConvolutionKind::Full,
                }
            });
            FileNode {
                name: node.name.clone(),
                inputs: node.input.clone(),
                outputs: node.output.clone(),
                op_type: node.op_type.clone(),
                convolution,
            }
        })
        .collect())
}

fn tflite_nodes(bytes: &[u8]) -> Result<Vec<FileNode>> {
    use tract_tflite::tflite::{root_as_model, BuiltinOperator};
    let model = root_as_model(bytes).map_err(|e| anyhow::anyhow!("not a TFLite model: {e}"))?;
    let tensors = model
        .subgraphs()
        .and_then(|s| s.iter().next())
        .and_then(|s| s.tensors())
        .context("no tensors")?;
    let tensor = |index: i32| {
        usize::try_from(index)
            .ok()
            .filter(|&i| i < tensors.len())
            .map(|i| tensors.get(i))
    };
    Ok(tflite_operators(&model)?
        .into_iter()
        .map(|(builtin, inputs, outputs)| {
            // Filters are [C_out, kh, kw, C_in].
            let kernel = inputs
                .get(1)
                .and_then(|&i| tensor(i))
                .and_then(|t| t.shape())
                .map(|s| s.iter().collect::<Vec<i32>>());
            let convolution = match builtin {
                BuiltinOperator::DEPTHWISE_CONV_2D => Some(ConvolutionKind::Depthwise),
                BuiltinOperator::CONV_2D => Some(match kernel.as_deref() {
                    Some(&[_, 1, 1, _]) => ConvolutionKind::Pointwise,
                    _ => ConvolutionKind::Full,
                }),
                _ => None,
            };
            let names = |indices: &[i32]| -> Vec<String> {
                indices
                    .iter()
                    .filter_map(|&i| tensor(i).and_then(|t| t.name()).map(str::to_string))
                    .collect()
            };
            FileNode {
                name: String::new(),
                inputs: names(&inputs),
                outputs: names(&outputs),
                op_type: builtin_name(builtin),
                convolution,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_onnx_graph::build::{floats, int, ints, model, node};
    use harness_onnx_graph::pb;

    fn info_of(model: pb::ModelProto) -> ModelInfo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.onnx");
        std::fs::write(&path, harness_onnx_graph::encode(&model)).unwrap();
        ModelInfo::read(&path, ModelFormat::Onnx).unwrap()
    }

    fn conv(
        x: [usize; 4],
        weight: [usize; 4],
        group: i64,
        stride: i64,
        y: [usize; 4],
    ) -> ModelInfo {
        let count = weight.iter().product();
        info_of(model(
            vec![node(
                "Conv",
                &["x", "w"],
                "y",
                vec![
                    int("group", group),
                    ints("pads", &[1, 1, 1, 1]),
                    ints("strides", &[stride, stride]),
                ],
            )],
            vec![floats("w", &weight, &vec![0.5; count])],
            &x,
            &y,
            13,
        ))
    }

    #[test]
    fn grouped_convolution_counts_each_group_s_inputs() {
        // 6 output channels × 8×8 points × (4 / 2 input channels per group × 3×3 taps).
        let info = conv([1, 4, 8, 8], [6, 2, 3, 3], 2, 1, [1, 6, 8, 8]);
        assert_eq!(info.macs, 6 * 64 * 2 * 9);
        assert_eq!(info.params, 6 * 2 * 9);
        assert_eq!(info.ops, vec![("Conv".to_string(), 1)]);
    }

    #[test]
    fn depthwise_convolution_with_stride() {
        // 4 channels × 4×4 output points × 3×3 taps.
        let info = conv([1, 4, 8, 8], [4, 1, 3, 3], 4, 2, [1, 4, 4, 4]);
        assert_eq!(info.macs, 4 * 16 * 9);
    }

    #[test]
    fn gemm_counts_rows_times_columns_times_depth() {
        let info = info_of(model(
            vec![
                node("Gemm", &["x", "b", "c"], "g", vec![int("transB", 1)]),
                node("Relu", &["g"], "y", vec![]),
            ],
            vec![
                floats("b", &[4, 3], &[1.0; 12]),
                floats("c", &[4], &[0.0; 4]),
            ],
            &[2, 3],
            &[2, 4],
            13,
        ));
        assert_eq!(info.macs, 2 * 4 * 3);
        assert_eq!(info.params, 12 + 4);
        assert_eq!(
            info.ops,
            vec![("Gemm".to_string(), 1), ("Relu".to_string(), 1)]
        );
    }

    #[test]
    fn the_histogram_puts_the_most_frequent_first_and_keeps_ties_in_order() {
        let names = ["Conv", "Relu", "Conv", "Add", "Relu", "Conv"].map(String::from);
        assert_eq!(
            histogram(names.into_iter()),
            vec![
                ("Conv".to_string(), 3),
                ("Relu".to_string(), 2),
                ("Add".to_string(), 1)
            ]
        );
    }

    #[test]
    fn a_file_that_is_no_model_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for (name, format) in [
            ("junk.tflite", ModelFormat::Tflite),
            ("junk.onnx", ModelFormat::Onnx),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, b"not a model at all").unwrap();
            let err = ModelInfo::read(&path, format).unwrap_err();
            assert!(format!("{err:#}").contains(name), "{err:#}");
        }
    }
}
