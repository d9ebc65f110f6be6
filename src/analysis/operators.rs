//! An engine's profile in terms every engine shares: each node's operator class (the same classes, and in the
//! report the same colours, for all engines), found from the operator's name as the engine gives it and from
//! the model file's node it came from (which alone tells a depthwise or pointwise convolution from another
//! one, once an engine has turned them all into matrix products).

use crate::model_info::{ConvolutionKind, FileNode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a profile's time goes, in classes every engine's operators fall into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OperatorClass {
    #[serde(rename = "conv")]
    Conv,
    #[serde(rename = "depthwise conv")]
    DepthwiseConv,
    #[serde(rename = "pointwise conv")]
    PointwiseConv,
    #[serde(rename = "gemm/matmul")]
    Gemm,
    #[serde(rename = "pooling")]
    Pooling,
    #[serde(rename = "elementwise")]
    Elementwise,
    #[serde(rename = "activation")]
    Activation,
    #[serde(rename = "layout")]
    Layout,
    #[serde(rename = "quantize")]
    Quantize,
    #[serde(rename = "other")]
    Other,
}

impl OperatorClass {
    /// Every class, in the order charts stack them.
    pub const ALL: [OperatorClass; 10] = [
        OperatorClass::Conv,
        OperatorClass::DepthwiseConv,
        OperatorClass::PointwiseConv,
        OperatorClass::Gemm,
        OperatorClass::Pooling,
        OperatorClass::Elementwise,
        OperatorClass::Activation,
        OperatorClass::Layout,
        OperatorClass::Quantize,
        OperatorClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OperatorClass::Conv => "conv",
            OperatorClass::DepthwiseConv => "depthwise conv",
            OperatorClass::PointwiseConv => "pointwise conv",
            OperatorClass::Gemm => "gemm/matmul",
            OperatorClass::Pooling => "pooling",
            OperatorClass::Elementwise => "elementwise",
            OperatorClass::Activation => "activation",
            OperatorClass::Layout => "layout",
            OperatorClass::Quantize => "quantize",
            OperatorClass::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<OperatorClass> {
        OperatorClass::ALL.into_iter().find(|c| c.as_str() == text)
    }

    fn is_convolution(self) -> bool {
        matches!(
            self,
            OperatorClass::Conv | OperatorClass::DepthwiseConv | OperatorClass::PointwiseConv
        )
    }

    /// The class an operator's name says, in any engine's naming (ONNX, TFLite, OpenVINO, OpenCV, tract,
    /// MNN): `Other` where the name says nothing the classes know.
    pub fn of_operator(op_type: &str) -> OperatorClass {
        let op = op_type.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| op.contains(w));
        if has(&["convert", "cast"]) {
            OperatorClass::Quantize
        } else if has(&["depthwise", "dwconv", "_dw"]) {
            OperatorClass::DepthwiseConv
        } else if has(&["conv"]) && has(&["1x1"]) {
            // OpenVINO's kernel names say it: `Convolution [brgconv_avx2_1x1_FP32]`.
            OperatorClass::PointwiseConv
        } else if has(&["conv"]) {
            OperatorClass::Conv
        } else if has(&["pack", "im2col", "reorder", "raster"]) {
            // Repacking data for a matrix product or a blocked layout moves data; it computes nothing.
            OperatorClass::Layout
        } else if has(&[
            "gemm",
            "matmul",
            "innerproduct",
            "fullyconnected",
            "fully_connected",
            "einsum",
        ]) {
            OperatorClass::Gemm
        } else if has(&["pool"]) {
            OperatorClass::Pooling
        } else if has(&["quantize", "qlinear"]) {
            OperatorClass::Quantize
        } else if has(&[
            "relu",
            "clip",
            "sigmoid",
            "logistic",
            "tanh",
            "swish",
            "gelu",
            "silu",
            "elu",
            "softmax",
            "erf",
            "hardswish",
        ]) {
            OperatorClass::Activation
        } else if has(&[
            "reshape",
            "transpose",
            "permute",
            "flatten",
            "squeeze",
            "concat",
            "split",
            "slice",
            "gather",
            "pad",
            "identity",
            "expand",
            "tile",
            "shape",
            "axisop",
            "copy",
        ]) {
            OperatorClass::Layout
        } else if has(&[
            "add",
            "sub",
            "mul",
            "div",
            "eltwise",
            "batchnorm",
            "scale",
            "pow",
            "sqrt",
            "exp",
            "max",
            "min",
            "sum",
            "binary",
            "bias",
        ]) {
            OperatorClass::Elementwise
        } else {
            OperatorClass::Other
        }
    }
}

impl From<ConvolutionKind> for OperatorClass {
    fn from(kind: ConvolutionKind) -> OperatorClass {
        match kind {
            ConvolutionKind::Depthwise => OperatorClass::DepthwiseConv,
            ConvolutionKind::Pointwise => OperatorClass::PointwiseConv,
            ConvolutionKind::Full => OperatorClass::Conv,
        }
    }
}

/// A model file's nodes by every name an engine may report them under.
pub struct Graph {
    nodes: HashMap<String, Known>,
}

/// What the file says of a node an engine's name leads to.
#[derive(Clone, Copy)]
struct Known {
    class: OperatorClass,
    /// The class of the convolution or matrix product that computes this node's input, if one does: engines
    /// fuse a convolution with the activation or sum after it, and may name the fused node after that.
    fed_by: Option<OperatorClass>,
}

/// Characters engines put between a model node's name and a suffix of their own (`conv1.matmul`,
/// `conv1_fused`, `conv1/bias`).
const SEPARATORS: [char; 4] = ['.', '_', '/', ':'];

impl Graph {
    pub fn new(nodes: &[FileNode]) -> Graph {
        let class_of = |node: &FileNode| {
            node.convolution
                .map_or_else(|| OperatorClass::of_operator(&node.op_type), Into::into)
        };
        let computed_by: HashMap<&str, OperatorClass> = nodes
            .iter()
            .map(|n| (n, class_of(n)))
            .filter(|(_, class)| class.is_convolution() || *class == OperatorClass::Gemm)
            .flat_map(|(n, class)| n.outputs.iter().map(move |o| (o.as_str(), class)))
            .collect();
        let mut known = HashMap::new();
        for node in nodes {
            let node_known = Known {
                class: class_of(node),
                fed_by: node
                    .inputs
                    .iter()
                    .find_map(|i| computed_by.get(i.as_str()).copied()),
            };
            let names = std::iter::once(&node.name).chain(&node.outputs);
            for name in names.filter(|n| !n.is_empty()) {
                known.entry(name.clone()).or_insert(node_known);
            }
        }
        Graph { nodes: known }
    }

    /// The class of the file's node `engine_name` came from: its own name, or the longest file name it
    /// extends with a suffix of the engine's. A prefix of the engine's own (OpenCV's `onnx_node!`) is left out.
    fn known(&self, engine_name: &str) -> Option<Known> {
        let engine_name = engine_name.rsplit('!').next().unwrap_or(engine_name);
        if let Some(&known) = self.nodes.get(engine_name) {
            return Some(known);
        }
        let mut name = engine_name;
        while let Some(cut) = name.rfind(SEPARATORS) {
            name = &name[..cut];
            if let Some(&known) = self.nodes.get(name) {
                return Some(known);
            }
        }
        None
    }

    /// The class of an engine's node: what its operator says, unless the file knows better. Engines lower
    /// operators to generic ones: a convolution to a matrix product (tract) or a matrix product to a 1×1
    /// convolution (MNN), an activation to an elementwise maximum, a pooling to a sum; the time is still the
    /// file's operator's. The data movement an engine adds (packing, reordering, padding) stays `layout`, even
    /// when it is named after the node it feeds: that is the engine's own cost, and a reason it is slower.
    pub fn classify(&self, engine_name: &str, op_type: &str) -> OperatorClass {
        use OperatorClass::*;
        let said = OperatorClass::of_operator(op_type);
        // A graph's inputs, outputs and constants are named after the tensors they carry, and compute nothing.
        let plumbing = [
            "parameter",
            "result",
            "constant",
            "const",
            "source",
            "input",
            "output",
        ];
        let operator = op_type.split([' ', '[']).next().unwrap_or_default();
        if plumbing.contains(&operator.to_ascii_lowercase().as_str()) {
            return Other;
        }
        let Some(Known {
            class: file,
            fed_by,
        }) = self.known(engine_name)
        else {
            return said;
        };
        match (said, file) {
            // A convolution fused with what follows it, named after that.
            (Conv | Gemm | Other, Activation | Elementwise) if fed_by.is_some() => {
                fed_by.expect("checked")
            }
            (DepthwiseConv, file) if file.is_convolution() => DepthwiseConv,
            (Conv | Gemm | Other, file) if file.is_convolution() => file,
            (Conv, Gemm) => Gemm,
            (Elementwise | Other, Activation | Pooling | Gemm) => file,
            (Other, file) => file,
            _ => said,
        }
    }

    /// What a profile row says beside its figures: why a node took no time, or which nodes the engine merged
    /// into it.
    pub fn note(&self, engine_name: &str, op_type: &str, calls: u64, total_us: f64) -> String {
        if calls == 0 {
            return "not run: fused into another node, or nothing to compute".to_string();
        }
        if total_us == 0.0 {
            return "no time of its own: fused into another node".to_string();
        }
        if let Some(Known {
            class: after @ (OperatorClass::Activation | OperatorClass::Elementwise),
            fed_by: Some(fused),
        }) = self.known(engine_name)
        {
            if self.classify(engine_name, op_type) == fused {
                return format!(
                    "fused: the {} and the {} after it",
                    fused.as_str(),
                    after.as_str()
                );
            }
        }
        if op_type.to_ascii_lowercase().contains("fused") {
            return format!("fused: {op_type} runs this node with its neighbours");
        }
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        (name, inputs, output): (&str, &[&str], &str),
        op_type: &str,
        convolution: Option<ConvolutionKind>,
    ) -> FileNode {
        FileNode {
            name: name.to_string(),
            inputs: inputs.iter().map(|i| i.to_string()).collect(),
            outputs: vec![output.to_string()],
            op_type: op_type.to_string(),
            convolution,
        }
    }

    #[test]
    fn operator_names_of_every_engine_fall_into_the_shared_classes() {
        for (op, class) in [
            ("Conv", OperatorClass::Conv),
            ("FusedConv", OperatorClass::Conv),
            ("GroupConvolution", OperatorClass::Conv),
            (
                "GroupConvolution [jit_avx2_dw_FP32]",
                OperatorClass::DepthwiseConv,
            ),
            (
                "Convolution [brgconv_avx2_1x1_FP32]",
                OperatorClass::PointwiseConv,
            ),
            ("DEPTHWISE_CONV_2D", OperatorClass::DepthwiseConv),
            ("ConvolutionDepthwise", OperatorClass::DepthwiseConv),
            ("DepthWise", OperatorClass::DepthwiseConv),
            ("Gemm", OperatorClass::Gemm),
            ("OptMatMul", OperatorClass::Gemm),
            ("InnerProduct", OperatorClass::Gemm),
            ("FULLY_CONNECTED", OperatorClass::Gemm),
            ("OptMatMulPack", OperatorClass::Layout),
            ("ReorderInput", OperatorClass::Layout),
            ("GlobalAveragePool", OperatorClass::Pooling),
            ("Pooling", OperatorClass::Pooling),
            ("Add", OperatorClass::Elementwise),
            ("Eltwise", OperatorClass::Elementwise),
            ("BatchNormalization", OperatorClass::Elementwise),
            ("Relu", OperatorClass::Activation),
            ("ReLU6", OperatorClass::Activation),
            ("Clip", OperatorClass::Activation),
            ("Softmax", OperatorClass::Activation),
            ("Reshape", OperatorClass::Layout),
            ("Transpose", OperatorClass::Layout),
            ("Expand", OperatorClass::Layout),
            ("QuantizeLinear", OperatorClass::Quantize),
            ("DEQUANTIZE", OperatorClass::Quantize),
            ("Convert", OperatorClass::Quantize),
            ("Parameter", OperatorClass::Other),
        ] {
            assert_eq!(OperatorClass::of_operator(op), class, "{op}");
        }
        for class in OperatorClass::ALL {
            assert_eq!(OperatorClass::parse(class.as_str()), Some(class));
        }
    }

    #[test]
    fn the_file_tells_depthwise_and_pointwise_convolutions_apart_whatever_the_engine_calls_them() {
        let graph = Graph::new(&[
            node(
                ("dw", &["x"], "dw_out"),
                "Conv",
                Some(ConvolutionKind::Depthwise),
            ),
            node(("relu", &["dw_out"], "relu_out"), "Relu", None),
            node(
                ("pw", &["relu_out"], "pw_out"),
                "Conv",
                Some(ConvolutionKind::Pointwise),
            ),
            node(("sum", &["x", "pw_out"], "sum_out"), "Add", None),
            node(("fc", &["sum_out"], "fc_out"), "Gemm", None),
            node(("clip", &["fc_out"], "y"), "Clip", None),
            node(("other_relu", &["sum_out"], "z"), "Relu", None),
        ]);
        assert_eq!(
            graph.classify("dw", "Convolution"),
            OperatorClass::DepthwiseConv
        );
        assert_eq!(
            graph.classify("dw_out", "Conv"),
            OperatorClass::DepthwiseConv
        );
        // tract lowers a pointwise convolution to a matrix product named after the node.
        assert_eq!(
            graph.classify("pw.matmul", "OptMatMul"),
            OperatorClass::PointwiseConv
        );
        // OpenCV names its layers `onnx_node!<name>`.
        assert_eq!(
            graph.classify("onnx_node!dw", "Convolution"),
            OperatorClass::DepthwiseConv
        );
        // The data movement an engine adds stays layout, whatever node it feeds.
        assert_eq!(
            graph.classify("pw.pack", "OptMatMulPack"),
            OperatorClass::Layout
        );
        assert_eq!(
            graph.classify("dw_out_raster_0", "Raster"),
            OperatorClass::Layout
        );
        // Lowered operators keep the file's class: an activation as a maximum, a matrix product as a 1×1
        // convolution; a convolution fused with the activation it is named after stays a convolution.
        assert_eq!(
            graph.classify("relu.low", "OptMaxByScalar"),
            OperatorClass::Activation
        );
        assert_eq!(
            graph.classify("fc__matmul_converted", "Convolution"),
            OperatorClass::Gemm
        );
        // A convolution fused with the activation or sum after it, named after that, is the convolution.
        assert_eq!(
            graph.classify("relu_out_nchwc", "Conv"),
            OperatorClass::DepthwiseConv
        );
        assert_eq!(
            graph.classify("sum.prefused", "OptMatMul"),
            OperatorClass::PointwiseConv
        );
        assert_eq!(
            graph.classify("clip", "FullyConnected"),
            OperatorClass::Gemm
        );
        // Fed by no convolution, it stays what its operator says.
        assert_eq!(graph.classify("other_relu", "Conv"), OperatorClass::Conv);
        assert_eq!(
            graph.classify("other_relu", "Relu"),
            OperatorClass::Activation
        );
        // An engine's own node that the file does not know keeps its operator's class.
        assert_eq!(
            graph.classify("reorder_7", "Reorder"),
            OperatorClass::Layout
        );
        assert_eq!(graph.classify("relu", "Relu"), OperatorClass::Activation);
        assert_eq!(graph.classify("fc", "InnerProduct"), OperatorClass::Gemm);
        // Inputs and outputs compute nothing, whatever tensor they are named after.
        assert_eq!(
            graph.classify("fc/sink_port_0", "Result"),
            OperatorClass::Other
        );
        assert_eq!(graph.classify("x", "Parameter"), OperatorClass::Other);
        assert_eq!(graph.classify("y", "Result [undef]"), OperatorClass::Other);
    }

    #[test]
    fn rows_say_when_a_node_was_fused() {
        let graph = Graph::new(&[
            node(
                ("conv", &["x"], "conv_out"),
                "Conv",
                Some(ConvolutionKind::Full),
            ),
            node(("clip", &["conv_out"], "y"), "Clip", None),
        ]);
        let note = |name, op, calls, total| graph.note(name, op, calls, total);
        assert!(note("clip", "Relu", 0, 0.0).starts_with("not run"));
        assert!(note("onnx_node!clip", "ReLU6", 1, 0.0).starts_with("no time of its own"));
        assert_eq!(
            note("y_nchwc", "Conv", 3, 10.0),
            "fused: the conv and the activation after it"
        );
        assert!(note("other", "FusedConv", 3, 10.0).starts_with("fused: FusedConv"));
        assert_eq!(note("conv", "Conv", 3, 10.0), "");
        assert_eq!(note("clip", "Clip", 3, 1.0), "");
    }
}
