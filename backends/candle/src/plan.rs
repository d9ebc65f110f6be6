//! From an ONNX graph to an execution plan, once at load time: initializers become candle tensors, nodes are
//! put in dependency order and bound to [`Op`]s with their attributes parsed, and every value gets a slot.
//! Anything the plan cannot run is refused here, naming the operator and the node.

use crate::ops::{self, Arithmetic, Conv, ConvGeometry, ConvKernel, Op, Pool, PoolKind};
use candle_core::{IndexOp, Tensor};
use harness_onnx_graph::pb;
use std::collections::HashMap;

/// Why a graph cannot be planned: what, and at which node.
#[derive(Debug, PartialEq)]
pub struct PlanError {
    pub op: String,
    pub node: String,
    pub reason: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.op.is_empty() {
            // A fault of the graph as a whole (its initializers, its outputs), not of one node.
            return f.write_str(&self.reason);
        }
        write!(
            f,
            "operator `{}` (node `{}`): {}",
            self.op, self.node, self.reason
        )
    }
}

/// The operators the plan can bind, as `harness backends` lists them.
pub const SUPPORTED: &[&str] = &[
    "Conv",
    "BatchNormalization",
    "Relu",
    "Clip",
    "HardSwish",
    "Sigmoid",
    "Add",
    "Mul",
    "Sub",
    "Div",
    "GlobalAveragePool",
    "AveragePool",
    "MaxPool",
    "Gemm",
    "MatMul",
    "Flatten",
    "Reshape",
    "Transpose",
    "Concat",
    "Softmax",
    "Pad",
    "Resize",
    "Upsample",
    "Constant",
    "Identity",
    "Dropout",
];

/// One node of the plan: an operation, the slots it reads and the slot it writes.
#[derive(Debug)]
pub struct Step {
    pub op: Op,
    pub inputs: Vec<usize>,
    pub output: usize,
    /// Slots no later step reads: emptied after this step, so intermediate tensors are freed as soon as
    /// possible.
    pub frees: Vec<usize>,
    /// The node's name, for run-time errors and profiles.
    pub node: String,
    /// The node's ONNX operator, for profiles.
    pub op_type: String,
}

#[derive(Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The value of every slot before a run: constants that steps read directly, `None` elsewhere.
    pub initial: Vec<Option<Tensor>>,
    /// Slots of the graph's inputs and outputs, in the graph's order.
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
}

impl Plan {
    /// Whether some convolution runs as the depthwise composition rather than candle's conv2d.
    pub fn has_depthwise(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(&s.op, Op::Conv(conv) if matches!(conv.kernel, ConvKernel::Depthwise { .. }))
        })
    }

    /// Runs the plan on one set of inputs and returns the graph's outputs.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
        self.run_with(inputs, |_, evaluate| evaluate())
    }

    /// Runs the plan with each step's evaluation handed to `around` (which a profile times).
    pub fn run_with(
        &self,
        inputs: &[Tensor],
        mut around: impl FnMut(
            &Step,
            &mut dyn FnMut() -> candle_core::Result<Tensor>,
        ) -> candle_core::Result<Tensor>,
    ) -> Result<Vec<Tensor>, String> {
        let mut slots = self.initial.clone();
        for (&slot, tensor) in self.inputs.iter().zip(inputs) {
            slots[slot] = Some(tensor.clone());
        }
        for step in &self.steps {
            let args: Vec<&Tensor> = step
                .inputs
                .iter()
                .map(|&i| {
                    slots[i]
                        .as_ref()
                        .expect("the plan orders every value before its readers")
                })
                .collect();
            let value = around(step, &mut || step.op.run(&args))
                .map_err(|e| format!("node `{}`: {e}", step.node))?;
            slots[step.output] = Some(value);
            for &slot in &step.frees {
                slots[slot] = None;
            }
        }
        Ok(self
            .outputs
            .iter()
            .map(|&i| slots[i].clone().expect("every output is computed"))
            .collect())
    }
}

/// A constant known at load time.
#[derive(Clone, Debug)]
enum Constant {
    Float(Tensor),
    Int(Vec<i64>),
}

/// Reads an initializer or a Constant node's tensor.
fn constant(t: &pb::TensorProto) -> Result<Constant, String> {
    use pb::tensor_proto::DataType;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let count: usize = dims.iter().product();
    let raw = &t.raw_data;
    match DataType::try_from(t.data_type) {
        Ok(DataType::Float) => {
            let values: Vec<f32> = if !raw.is_empty() {
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            } else {
                t.float_data.clone()
            };
            if values.len() != count {
                return Err(format!(
                    "tensor `{}` holds {} values for shape {dims:?}",
                    t.name,
                    values.len()
                ));
            }
            ops::tensor(values, &dims)
                .map(Constant::Float)
                .map_err(|e| e.to_string())
        }
        Ok(DataType::Int64) => Ok(Constant::Int(if !raw.is_empty() {
            raw.chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect()
        } else {
            t.int64_data.clone()
        })),
        Ok(DataType::Int32) => Ok(Constant::Int(if !raw.is_empty() {
            raw.chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as i64)
                .collect()
        } else {
            t.int32_data.iter().map(|&v| v as i64).collect()
        })),
        _ => Err(format!(
            "tensor `{}` has ONNX element type {}; candle's plan takes float and integer constants",
            t.name, t.data_type
        )),
    }
}

/// A node's attributes, looked up by name.
struct Attributes<'a>(&'a [pb::AttributeProto]);

impl Attributes<'_> {
    fn get(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.0.iter().find(|a| a.name == name)
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map_or(default, |a| a.i)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map_or(default, |a| a.f)
    }
    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }
    fn string(&self, name: &str, default: &str) -> String {
        self.get(name).map_or(default.to_string(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        })
    }
}

struct Builder<'a> {
    constants: HashMap<&'a str, Constant>,
    opset: i64,
}

impl<'a> Builder<'a> {
    fn float(&self, name: &str) -> Option<&Tensor> {
        match self.constants.get(name) {
            Some(Constant::Float(t)) => Some(t),
            _ => None,
        }
    }

    fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.constants.get(name) {
            Some(Constant::Int(v)) => Some(v),
            _ => None,
        }
    }

    /// A float constant given as an optional input, read to a scalar (Clip's bounds, Pad's value).
    fn scalar(&self, node: &pb::NodeProto, index: usize) -> Result<Option<f32>, String> {
        match node.input.get(index).filter(|n| !n.is_empty()) {
            None => Ok(None),
            Some(name) => {
                let t = self
                    .float(name)
                    .ok_or(format!("input `{name}` must be a constant"))?;
                let v = ops::values(t).map_err(|e| e.to_string())?;
                v.first()
                    .copied()
                    .map(Some)
                    .ok_or(format!("input `{name}` is empty"))
            }
        }
    }

    /// Binds one node; its runtime operands are its inputs minus those the op has absorbed as constants.
    fn bind(&self, node: &pb::NodeProto) -> Result<(Op, Vec<String>), String> {
        let a = Attributes(&node.attribute);
        let first = || vec![node.input[0].clone()];
        let op = match node.op_type.as_str() {
            "Conv" => return self.conv(node, &a).map(|op| (op, first())),
            "BatchNormalization" => {
                let get = |i: usize| {
                    node.input
                        .get(i)
                        .and_then(|n| self.float(n))
                        .ok_or(format!("input {i} must be a constant (inference mode)"))
                };
                let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
                let epsilon = a.float("epsilon", 1e-5) as f64;
                let fold = || -> candle_core::Result<(Tensor, Tensor)> {
                    let scale = gamma.div(&var.affine(1.0, epsilon)?.sqrt()?)?;
                    let shift = beta.sub(&mean.mul(&scale)?)?;
                    let c = scale.dim(0)?;
                    Ok((scale.reshape((1, c, 1, 1))?, shift.reshape((1, c, 1, 1))?))
                };
                let (scale, shift) = fold().map_err(|e| e.to_string())?;
                return Ok((Op::BatchNorm { scale, shift }, first()));
            }
            "Relu" => Op::Relu,
            "Clip" => {
                // Opset 11 moved the bounds from attributes to optional inputs.
                let (min, max) = if self.opset >= 11 {
                    (
                        self.scalar(node, 1)?.unwrap_or(f32::MIN),
                        self.scalar(node, 2)?.unwrap_or(f32::MAX),
                    )
                } else {
                    (a.float("min", f32::MIN), a.float("max", f32::MAX))
                };
                return Ok((Op::Clip { min, max }, first()));
            }
            "HardSwish" => Op::HardSwish,
            "Sigmoid" => Op::Sigmoid,
            "Add" => Op::Binary(Arithmetic::Add),
            "Sub" => Op::Binary(Arithmetic::Sub),
            "Mul" => Op::Binary(Arithmetic::Mul),
            "Div" => Op::Binary(Arithmetic::Div),
            "GlobalAveragePool" => Op::GlobalAveragePool,
            "MaxPool" | "AveragePool" => return self.pool(node, &a).map(|op| (op, first())),
            "Gemm" => {
                let b = node
                    .input
                    .get(1)
                    .and_then(|n| self.float(n))
                    .ok_or("B must be a constant")?;
                let (alpha, beta) = (a.float("alpha", 1.0) as f64, a.float("beta", 1.0) as f64);
                let prepare = || -> candle_core::Result<(Tensor, Option<Tensor>)> {
                    let b = if a.int("transB", 0) != 0 {
                        b.t()?
                    } else {
                        b.clone()
                    };
                    let b = b.affine(alpha, 0.0)?.contiguous()?;
                    let c = match node
                        .input
                        .get(2)
                        .filter(|n| !n.is_empty())
                        .and_then(|n| self.float(n))
                    {
                        Some(c) => Some(c.affine(beta, 0.0)?),
                        None => None,
                    };
                    Ok((b, c))
                };
                if node
                    .input
                    .get(2)
                    .is_some_and(|n| !n.is_empty() && self.float(n).is_none())
                {
                    return Err("C must be a constant".into());
                }
                let (b, c) = prepare().map_err(|e| e.to_string())?;
                return Ok((
                    Op::Gemm {
                        transpose_a: a.int("transA", 0) != 0,
                        b,
                        c,
                    },
                    first(),
                ));
            }
            "MatMul" => Op::MatMul,
            "Flatten" => Op::Flatten {
                axis: a.int("axis", 1),
            },
            "Reshape" => {
                let shape = node
                    .input
                    .get(1)
                    .and_then(|n| self.ints(n))
                    .ok_or("the target shape must be a constant")?
                    .to_vec();
                return Ok((
                    Op::Reshape {
                        shape,
                        allow_zero: a.int("allowzero", 0) != 0,
                    },
                    first(),
                ));
            }
            "Transpose" => {
                let perm = a
                    .ints("perm")
                    .ok_or("a Transpose without `perm` is not supported")?;
                Op::Transpose {
                    perm: perm.iter().map(|&p| p as usize).collect(),
                }
            }
            "Squeeze" | "Unsqueeze" => {
                // Opset 13 moved the axes from an attribute to a constant input.
                let axes = match node.input.get(1).filter(|n| !n.is_empty()) {
                    Some(name) => Some(
                        self.ints(name)
                            .ok_or("the axes must be a constant")?
                            .to_vec(),
                    ),
                    None => a.ints("axes"),
                };
                let op = if node.op_type == "Squeeze" {
                    Op::Squeeze { axes }
                } else {
                    Op::Unsqueeze {
                        axes: axes.ok_or("Unsqueeze needs axes")?,
                    }
                };
                return Ok((op, first()));
            }
            "Concat" => Op::Concat {
                axis: a.int("axis", 0),
            },
            "Softmax" => Op::Softmax {
                axis: a.int("axis", if self.opset >= 13 { -1 } else { 1 }),
                flatten: self.opset < 13,
            },
            "Pad" => return self.pad(node, &a).map(|op| (op, first())),
            "Resize" | "Upsample" => return self.resize(node, &a).map(|op| (op, first())),
            "Identity" | "Dropout" => return Ok((Op::Identity, first())),
            _ => {
                return Err(format!(
                    "not supported by the candle backend (it runs {})",
                    SUPPORTED.join(", ")
                ))
            }
        };
        let inputs = node
            .input
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .collect();
        Ok((op, inputs))
    }

    fn conv(&self, node: &pb::NodeProto, a: &Attributes) -> Result<Op, String> {
        let weight = node
            .input
            .get(1)
            .and_then(|n| self.float(n))
            .ok_or("the weights must be a constant")?;
        let (c_out, c_in_per_group, kh, kw) = weight
            .dims4()
            .map_err(|_| "only 2-D convolutions are supported".to_string())?;
        let group = a.int("group", 1) as usize;
        let single = |name: &str| -> Result<usize, String> {
            match a.ints(name).as_deref() {
                None => Ok(1),
                Some([h, w]) if h == w => Ok(*h as usize),
                Some(v) => Err(format!(
                    "{name} {v:?}: candle's conv2d takes one value for both axes"
                )),
            }
        };
        let (stride, dilation) = (single("strides")?, single("dilations")?);
        let pads = pads_2d(node, a, (kh, kw), stride, dilation)?;
        let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
            Some(name) => {
                let b = self.float(name).ok_or("the bias must be a constant")?;
                Some(b.reshape((1, c_out, 1, 1)).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let kernel = if group > 1 && c_in_per_group == 1 && c_out == group {
            let taps = (0..kh * kw)
                .map(|t| {
                    weight
                        .i((.., 0, t / kw, t % kw))?
                        .reshape((1, c_out, 1, 1))?
                        .contiguous()
                })
                .collect::<candle_core::Result<Vec<_>>>()
                .map_err(|e| e.to_string())?;
            ConvKernel::Depthwise { taps }
        } else {
            ConvKernel::Candle {
                weight: weight.clone(),
                groups: group,
            }
        };
        Ok(Op::Conv(Box::new(Conv {
            geometry: ConvGeometry {
                pads,
                stride,
                dilation,
                kernel: (kh, kw),
            },
            kernel,
            bias,
        })))
    }

    fn pool(&self, node: &pb::NodeProto, a: &Attributes) -> Result<Op, String> {
        let kind = if node.op_type == "MaxPool" {
            PoolKind::Max
        } else {
            PoolKind::Average
        };
        let kernel = match a.ints("kernel_shape").as_deref() {
            Some([h, w]) => (*h as usize, *w as usize),
            other => {
                return Err(format!(
                    "kernel_shape {other:?}: only 2-D pooling is supported"
                ))
            }
        };
        let stride = match a.ints("strides").as_deref() {
            None => (1, 1),
            Some([h, w]) => (*h as usize, *w as usize),
            Some(v) => return Err(format!("strides {v:?}: only 2-D pooling is supported")),
        };
        if a.int("ceil_mode", 0) != 0 {
            return Err("ceil_mode = 1 is not supported".into());
        }
        if a.ints("dilations")
            .is_some_and(|d| d.iter().any(|&v| v != 1))
        {
            return Err("dilated pooling is not supported".into());
        }
        let pads = pads_2d(node, a, kernel, stride.0.max(stride.1), 1)?;
        if kind == PoolKind::Average
            && pads != [(0, 0), (0, 0)]
            && a.int("count_include_pad", 0) == 0
        {
            return Err("padded average pooling that leaves padding out of the count (candle's avg_pool2d has no padding)".into());
        }
        Ok(Op::Pool(Pool {
            kind,
            kernel,
            stride,
            pads,
        }))
    }

    fn pad(&self, node: &pb::NodeProto, a: &Attributes) -> Result<Op, String> {
        let mode = a.string("mode", "constant");
        if mode != "constant" {
            return Err(format!("mode `{mode}` is not supported (constant only)"));
        }
        // Opset 11 moved pads and the value from attributes to inputs.
        let (pads, value) = if self.opset >= 11 {
            let pads = node
                .input
                .get(1)
                .and_then(|n| self.ints(n))
                .ok_or("pads must be a constant")?
                .to_vec();
            (pads, self.scalar(node, 2)?.unwrap_or(0.0))
        } else {
            (a.ints("pads").ok_or("no pads")?, a.float("value", 0.0))
        };
        if node.input.get(3).is_some_and(|n| !n.is_empty()) {
            return Err("the axes input is not supported".into());
        }
        if pads.iter().any(|&p| p < 0) || pads.len() % 2 != 0 {
            return Err(format!(
                "pads {pads:?}: negative or odd-length pads are not supported"
            ));
        }
        let rank = pads.len() / 2;
        let pads = (0..rank)
            .map(|i| (pads[i] as usize, pads[i + rank] as usize))
            .collect();
        Ok(Op::Pad { pads, value })
    }

    fn resize(&self, node: &pb::NodeProto, a: &Attributes) -> Result<Op, String> {
        let mode = a.string("mode", "nearest");
        if mode != "nearest" {
            return Err(format!("mode `{mode}` is not supported (nearest only)"));
        }
        let transform = a.string("coordinate_transformation_mode", "half_pixel");
        // With whole factors these all pick the same source pixel as candle's upsample_nearest2d.
        if !["asymmetric", "half_pixel", "pytorch_half_pixel"].contains(&transform.as_str()) {
            return Err(format!(
                "coordinate_transformation_mode `{transform}` is not supported"
            ));
        }
        // Upsample (opset 9) and Resize 10 take scales as input 1; Resize 11+ as input 2, or sizes as input 3.
        let scales_input = if node.op_type == "Upsample" || self.opset < 11 {
            1
        } else {
            2
        };
        let scales = node
            .input
            .get(scales_input)
            .filter(|n| !n.is_empty())
            .and_then(|n| self.float(n));
        let factors = match (scales, node.input.get(3).filter(|n| !n.is_empty())) {
            (Some(scales), _) if scales.elem_count() > 0 => {
                let s = ops::values(scales).map_err(|e| e.to_string())?;
                if s.len() != 4 || s[0] != 1.0 || s[1] != 1.0 {
                    return Err(format!(
                        "scales {s:?}: only the last two axes of a 4-D tensor may be scaled"
                    ));
                }
                let whole = |f: f32| (f >= 1.0 && f.fract() == 0.0).then_some(f as usize);
                match (whole(s[2]), whole(s[3])) {
                    (Some(h), Some(w)) => (h, w),
                    _ => {
                        return Err(format!(
                            "scales {s:?}: only whole upsampling factors are supported"
                        ))
                    }
                }
            }
            (_, Some(_)) => return Err("sizes instead of scales are not supported".into()),
            _ => return Err("the scales must be a constant".into()),
        };
        Ok(Op::ResizeNearest { factors })
    }
}

/// Explicit pads `[top, left, bottom, right]`, or SAME_UPPER/SAME_LOWER auto-padding, as (before, after) pairs.
fn pads_2d(
    node: &pb::NodeProto,
    a: &Attributes,
    kernel: (usize, usize),
    stride: usize,
    dilation: usize,
) -> Result<[(usize, usize); 2], String> {
    let auto = a.string("auto_pad", "NOTSET");
    match auto.as_str() {
        "NOTSET" => match a.ints("pads").as_deref() {
            None => Ok([(0, 0), (0, 0)]),
            Some([t, l, b, r]) if [t, l, b, r].iter().all(|&&p| p >= 0) => {
                Ok([(*t as usize, *b as usize), (*l as usize, *r as usize)])
            }
            Some(p) => Err(format!("pads {p:?} are not supported")),
        },
        "VALID" => Ok([(0, 0), (0, 0)]),
        "SAME_UPPER" | "SAME_LOWER" => Err(format!(
            "auto_pad {auto} depends on the input size; node `{}` needs explicit pads (kernel {kernel:?}, stride {stride}, dilation {dilation})",
            node.name
        )),
        other => Err(format!("auto_pad {other} is not supported")),
    }
}

/// Orders the nodes so that every value is produced before it is read (ONNX asks files to be sorted, but does
/// not enforce it).
fn dependency_order<'a>(
    nodes: &'a [pb::NodeProto],
    available: &[&str],
) -> Result<Vec<&'a pb::NodeProto>, PlanError> {
    let mut known: std::collections::HashSet<&str> = available.iter().copied().collect();
    let mut pending: Vec<&pb::NodeProto> = nodes.iter().collect();
    let mut ordered = Vec::with_capacity(nodes.len());
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|node| {
            if node
                .input
                .iter()
                .all(|i| i.is_empty() || known.contains(i.as_str()))
            {
                known.extend(node.output.iter().map(String::as_str));
                ordered.push(*node);
                false
            } else {
                true
            }
        });
        if pending.len() == before {
            let node = pending[0];
            let missing = node
                .input
                .iter()
                .find(|i| !i.is_empty() && !known.contains(i.as_str()))
                .cloned()
                .unwrap_or_default();
            return Err(PlanError {
                op: node.op_type.clone(),
                node: node_name(node),
                reason: format!("reads `{missing}`, which no node, input or initializer provides"),
            });
        }
    }
    Ok(ordered)
}

fn node_name(node: &pb::NodeProto) -> String {
    if node.name.is_empty() {
        node.output.first().cloned().unwrap_or_default()
    } else {
        node.name.clone()
    }
}

/// Builds the plan of a model's graph.
pub fn build(model: &pb::ModelProto) -> Result<Plan, PlanError> {
    let graph_error = |reason: String| PlanError {
        op: String::new(),
        node: String::new(),
        reason,
    };
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| graph_error("the model has no graph".into()))?;
    let mut builder = Builder {
        constants: HashMap::new(),
        opset: harness_onnx_graph::default_opset(model).unwrap_or(13),
    };
    for init in &graph.initializer {
        let value = constant(init).map_err(graph_error)?;
        builder.constants.insert(init.name.as_str(), value);
    }
    let input_names: Vec<&str> = graph
        .input
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !builder.constants.contains_key(n))
        .collect();
    let mut available: Vec<&str> = input_names.clone();
    available.extend(builder.constants.keys());

    let mut slots: HashMap<String, usize> = HashMap::new();
    let slot = |name: &str, slots: &mut HashMap<String, usize>| {
        let next = slots.len();
        *slots.entry(name.to_string()).or_insert(next)
    };
    let inputs: Vec<usize> = input_names.iter().map(|n| slot(n, &mut slots)).collect();
    let mut steps = Vec::new();
    for node in dependency_order(&graph.node, &available)? {
        let fail = |reason: String| PlanError {
            op: node.op_type.clone(),
            node: node_name(node),
            reason,
        };
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(fail(format!("domain `{}` is not supported", node.domain)));
        }
        if node.op_type == "Constant" {
            let value = node
                .attribute
                .iter()
                .find(|a| a.name == "value")
                .and_then(|a| a.t.as_ref())
                .ok_or_else(|| fail("only the `value` form of Constant is supported".into()))?;
            let value = constant(value).map_err(fail)?;
            builder.constants.insert(node.output[0].as_str(), value);
            continue;
        }
        let (op, operands) = builder.bind(node).map_err(fail)?;
        if node.output.iter().filter(|o| !o.is_empty()).count() > 1 && node.op_type != "Dropout" {
            return Err(fail("nodes with several outputs are not supported".into()));
        }
        let inputs = operands.iter().map(|n| slot(n, &mut slots)).collect();
        let output = slot(&node.output[0], &mut slots);
        steps.push(Step {
            op,
            inputs,
            output,
            frees: Vec::new(),
            node: node_name(node),
            op_type: node.op_type.clone(),
        });
    }
    let outputs: Vec<usize> = graph
        .output
        .iter()
        .map(|o| {
            slots
                .get(&o.name)
                .copied()
                .ok_or_else(|| graph_error(format!("output `{}` is never computed", o.name)))
        })
        .collect::<Result<_, _>>()?;

    // Constants that steps read at run time go in their slots before the run.
    let mut initial = vec![None; slots.len()];
    for (name, &index) in &slots {
        if let Some(Constant::Float(t)) = builder.constants.get(name.as_str()) {
            initial[index] = Some(t.clone());
        }
    }
    for step in &steps {
        for &i in &step.inputs {
            let produced =
                inputs.contains(&i) || steps.iter().any(|s| s.output == i) || initial[i].is_some();
            if !produced {
                let name = slots
                    .iter()
                    .find(|(_, &s)| s == i)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                return Err(PlanError {
                    op: String::new(),
                    node: step.node.clone(),
                    reason: format!(
                        "reads `{name}`, an integer constant, as a tensor (not supported)"
                    ),
                });
            }
        }
    }
    // Free each intermediate value after its last reader.
    let mut last_reader: HashMap<usize, usize> = HashMap::new();
    for (index, step) in steps.iter().enumerate() {
        for &i in &step.inputs {
            last_reader.insert(i, index);
        }
    }
    for (slot, index) in last_reader {
        if !outputs.contains(&slot) && initial[slot].is_none() {
            steps[index].frees.push(slot);
        }
    }
    Ok(Plan {
        steps,
        initial,
        inputs,
        outputs,
    })
}
