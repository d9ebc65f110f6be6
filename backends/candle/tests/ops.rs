//! Each operator of the candle plan on a one-node (or two-node) ONNX graph, against values computed by hand or
//! by the plain loops below.

use harness_backend_api::{Backend, LoadOptions, ModelFormat, Tensor, TensorData};
use harness_backend_candle::CandleBackend;
use harness_onnx_graph::build::{self, float, floats, int, int64s, ints};
use harness_onnx_graph::pb;
use pb::attribute_proto::AttributeType;
use std::path::PathBuf;

/// A node writing `y`, the graph's output.
fn node(op: &str, inputs: &[&str], attributes: Vec<pb::AttributeProto>) -> pb::NodeProto {
    build::node(op, inputs, "y", attributes)
}

/// A graph of `nodes` (the last writes `y`) over the input `x`, written to a file in `dir`.
struct Graph {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    opset: i64,
}

impl Graph {
    fn one(node: pb::NodeProto) -> Graph {
        Graph {
            nodes: vec![node],
            initializers: Vec::new(),
            opset: 13,
        }
    }

    fn with(mut self, initializer: pb::TensorProto) -> Graph {
        self.initializers.push(initializer);
        self
    }

    fn opset(mut self, opset: i64) -> Graph {
        self.opset = opset;
        self
    }

    fn write(self, dir: &std::path::Path, x_shape: &[usize]) -> PathBuf {
        let model = build::model(self.nodes, self.initializers, x_shape, &[], self.opset);
        let path = dir.join("model.onnx");
        std::fs::write(&path, harness_onnx_graph::encode(&model)).unwrap();
        path
    }

    /// Runs the graph on `x` with candle and returns y's shape and values.
    fn run(self, x_shape: &[usize], x: &[f32]) -> (Vec<usize>, Vec<f32>) {
        let dir = tempfile::tempdir().unwrap();
        let path = self.write(dir.path(), x_shape);
        let options = LoadOptions {
            threads: 2,
            ..LoadOptions::default()
        };
        let mut session = CandleBackend
            .load(&path, ModelFormat::Onnx, &options)
            .unwrap();
        let input = session
            .prepare(vec![Tensor {
                shape: x_shape.to_vec(),
                data: TensorData::F32(x.to_vec()),
            }])
            .unwrap();
        session.run(input).unwrap();
        let out = session.last_outputs().unwrap().remove(0);
        match out.data {
            TensorData::F32(v) => (out.shape, v),
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Deterministic values in [−1, 1).
fn sample(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn assert_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= 1e-4 * (1.0 + e.abs()),
            "element {i}: {a} against {e}"
        );
    }
}

/// A plain NCHW convolution with zero padding, groups, stride and dilation.
#[allow(clippy::too_many_arguments)]
fn reference_conv(
    x: &[f32],
    (n, c, h, w): (usize, usize, usize, usize),
    weight: &[f32],
    (o, kh, kw): (usize, usize, usize),
    bias: &[f32],
    groups: usize,
    [(top, bottom), (left, right)]: [(usize, usize); 2],
    stride: usize,
    dilation: usize,
) -> (Vec<usize>, Vec<f32>) {
    let cg = c / groups;
    let og = o / groups;
    let oh = (h + top + bottom - dilation * (kh - 1) - 1) / stride + 1;
    let ow = (w + left + right - dilation * (kw - 1) - 1) / stride + 1;
    let mut out = vec![0.0; n * o * oh * ow];
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for y in 0..oh {
                for xx in 0..ow {
                    let mut sum = bias.get(oc).copied().unwrap_or(0.0);
                    for ic in 0..cg {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y * stride + ky * dilation) as isize - top as isize;
                                let ix = (xx * stride + kx * dilation) as isize - left as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let channel = g * cg + ic;
                                let xv = x[((b * c + channel) * h + iy as usize) * w + ix as usize];
                                let wv = weight[((oc * cg + ic) * kh + ky) * kw + kx];
                                sum += xv * wv;
                            }
                        }
                    }
                    out[((b * o + oc) * oh + y) * ow + xx] = sum;
                }
            }
        }
    }
    (vec![n, o, oh, ow], out)
}

fn check_conv(
    (n, c, h, w): (usize, usize, usize, usize),
    (o, kh, kw): (usize, usize, usize),
    groups: usize,
    pads: [i64; 4],
    stride: usize,
    dilation: usize,
) {
    let x = sample(n * c * h * w, 1);
    let weight = sample(o * (c / groups) * kh * kw, 2);
    let bias = sample(o, 3);
    let (shape, expected) = reference_conv(
        &x,
        (n, c, h, w),
        &weight,
        (o, kh, kw),
        &bias,
        groups,
        [
            (pads[0] as usize, pads[2] as usize),
            (pads[1] as usize, pads[3] as usize),
        ],
        stride,
        dilation,
    );
    let conv = node(
        "Conv",
        &["x", "w", "b"],
        vec![
            int("group", groups as i64),
            ints("pads", &pads),
            ints("strides", &[stride as i64; 2]),
            ints("dilations", &[dilation as i64; 2]),
            ints("kernel_shape", &[kh as i64, kw as i64]),
        ],
    );
    let (actual_shape, actual) = Graph::one(conv)
        .with(floats("w", &[o, c / groups, kh, kw], &weight))
        .with(floats("b", &[o], &bias))
        .run(&[n, c, h, w], &x);
    assert_eq!(actual_shape, shape);
    assert_close(&actual, &expected);
}

#[test]
fn conv_with_symmetric_padding_and_stride() {
    check_conv((1, 3, 9, 9), (4, 3, 3), 1, [1, 1, 1, 1], 2, 1);
}

#[test]
fn conv_with_asymmetric_padding_is_padded_first() {
    check_conv((2, 2, 7, 6), (3, 3, 2), 1, [0, 1, 2, 0], 1, 1);
}

#[test]
fn grouped_conv_uses_candle_groups() {
    check_conv((1, 4, 6, 6), (6, 3, 3), 2, [1, 1, 1, 1], 1, 1);
}

#[test]
fn depthwise_conv_with_padding_and_stride_one() {
    check_conv((1, 5, 8, 7), (5, 3, 3), 5, [1, 1, 1, 1], 1, 1);
}

#[test]
fn depthwise_conv_with_stride_two_on_odd_and_even_sizes() {
    check_conv((1, 4, 9, 8), (4, 3, 3), 4, [1, 1, 1, 1], 2, 1);
    check_conv((2, 3, 7, 7), (3, 5, 5), 3, [2, 2, 2, 2], 2, 1);
}

#[test]
fn depthwise_conv_with_asymmetric_padding_and_dilation() {
    check_conv((1, 3, 10, 9), (3, 3, 3), 3, [0, 1, 1, 0], 2, 1);
    check_conv((1, 3, 10, 10), (3, 3, 3), 3, [2, 2, 2, 2], 1, 2);
}

#[test]
fn batch_normalization_is_folded_to_scale_and_shift() {
    let x = [1.0, 2.0, 3.0, 4.0];
    let bn = node(
        "BatchNormalization",
        &["x", "g", "b", "m", "v"],
        vec![float("epsilon", 0.0)],
    );
    let (_, y) = Graph::one(bn)
        .with(floats("g", &[2], &[2.0, 1.0]))
        .with(floats("b", &[2], &[0.5, -1.0]))
        .with(floats("m", &[2], &[1.0, 3.0]))
        .with(floats("v", &[2], &[4.0, 1.0]))
        .run(&[1, 2, 1, 2], &x);
    // Channel 0: 2 · (x − 1) / 2 + 0.5; channel 1: (x − 3) − 1.
    assert_close(&y, &[0.5, 1.5, -1.0, 0.0]);
}

#[test]
fn activations() {
    let x = [-4.0, -1.0, 0.0, 0.5, 2.0, 7.0];
    let run = |graph: Graph| Graph::run(graph, &[1, 6], &x).1;
    assert_close(
        &run(Graph::one(node("Relu", &["x"], vec![]))),
        &[0.0, 0.0, 0.0, 0.5, 2.0, 7.0],
    );
    let clip = node("Clip", &["x", "lo", "hi"], vec![]);
    let clipped = run(Graph::one(clip)
        .with(floats("lo", &[], &[0.0]))
        .with(floats("hi", &[], &[6.0])));
    assert_close(&clipped, &[0.0, 0.0, 0.0, 0.5, 2.0, 6.0]);
    let only_max = node("Clip", &["x", "", "hi"], vec![]);
    assert_close(
        &run(Graph::one(only_max).with(floats("hi", &[], &[1.0]))),
        &[-4.0, -1.0, 0.0, 0.5, 1.0, 1.0],
    );
    // Before opset 11 the bounds were attributes.
    let old = node("Clip", &["x"], vec![float("min", -1.0), float("max", 1.0)]);
    assert_close(
        &run(Graph::one(old).opset(6)),
        &[-1.0, -1.0, 0.0, 0.5, 1.0, 1.0],
    );
    let hard_swish: Vec<f32> = x
        .iter()
        .map(|v| v * (v + 3.0f32).clamp(0.0, 6.0) / 6.0)
        .collect();
    assert_close(
        &run(Graph::one(node("HardSwish", &["x"], vec![])).opset(14)),
        &hard_swish,
    );
    let sigmoid: Vec<f32> = x.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
    assert_close(&run(Graph::one(node("Sigmoid", &["x"], vec![]))), &sigmoid);
}

#[test]
fn arithmetic_broadcasts_like_numpy() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let channel = floats("k", &[2, 1], &[10.0, 2.0]);
    for (op, expected) in [
        ("Add", [11.0, 12.0, 13.0, 6.0, 7.0, 8.0]),
        ("Sub", [-9.0, -8.0, -7.0, 2.0, 3.0, 4.0]),
        ("Mul", [10.0, 20.0, 30.0, 8.0, 10.0, 12.0]),
        ("Div", [0.1, 0.2, 0.3, 2.0, 2.5, 3.0]),
    ] {
        let (shape, y) = Graph::one(node(op, &["x", "k"], vec![]))
            .with(channel.clone())
            .run(&[1, 2, 3], &x);
        assert_eq!(shape, [1, 2, 3], "{op}");
        assert_close(&y, &expected);
    }
    // Both operands computed at run time: x + x.
    let (_, y) = Graph::one(node("Add", &["x", "x"], vec![])).run(&[1, 2, 3], &x);
    assert_close(&y, &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
}

#[test]
fn pooling() {
    let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let (shape, y) = Graph::one(node("GlobalAveragePool", &["x"], vec![])).run(&[1, 1, 4, 4], &x);
    assert_eq!(shape, [1, 1, 1, 1]);
    assert_close(&y, &[7.5]);
    let avg = node(
        "AveragePool",
        &["x"],
        vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
    );
    assert_close(
        &Graph::one(avg).run(&[1, 1, 4, 4], &x).1,
        &[2.5, 4.5, 10.5, 12.5],
    );
    // 3×3 max-pooling, stride 2, padding 1: padding never wins, also against negative values.
    let negative: Vec<f32> = x.iter().map(|v| -v).collect();
    let max = node(
        "MaxPool",
        &["x"],
        vec![
            ints("kernel_shape", &[3, 3]),
            ints("strides", &[2, 2]),
            ints("pads", &[1, 1, 1, 1]),
        ],
    );
    let (shape, y) = Graph::one(max).run(&[1, 1, 4, 4], &negative);
    assert_eq!(shape, [1, 1, 2, 2]);
    assert_close(&y, &[0.0, -1.0, -4.0, -5.0]);
}

#[test]
fn gemm_and_matmul() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
                                            // B given transposed (2×3), as classifier heads store it; alpha 2, beta 0.5.
    let gemm = node(
        "Gemm",
        &["x", "b", "c"],
        vec![int("transB", 1), float("alpha", 2.0), float("beta", 0.5)],
    );
    let (shape, y) = Graph::one(gemm)
        .with(floats("b", &[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]))
        .with(floats("c", &[2], &[10.0, 20.0]))
        .run(&[2, 3], &x);
    assert_eq!(shape, [2, 2]);
    // Row 1: 2 · (1 + 3) + 5, 2 · 2 + 10; row 2: 2 · (4 + 6) + 5, 2 · 5 + 10.
    assert_close(&y, &[13.0, 14.0, 25.0, 20.0]);
    let (shape, y) = Graph::one(node("MatMul", &["x", "m"], vec![]))
        .with(floats("m", &[3, 1], &[1.0, 1.0, 1.0]))
        .run(&[2, 3], &x);
    assert_eq!(shape, [2, 1]);
    assert_close(&y, &[6.0, 15.0]);
}

#[test]
fn shape_operators() {
    let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
    let (shape, y) = Graph::one(node("Flatten", &["x"], vec![int("axis", 2)])).run(&[2, 3, 4], &x);
    assert_eq!((shape, &y), (vec![6, 4], &x));
    let (shape, _) = Graph::one(node("Reshape", &["x", "s"], vec![]))
        .with(int64s("s", &[0, -1]))
        .run(&[2, 3, 4], &x);
    assert_eq!(shape, [2, 12]);
    let (shape, y) =
        Graph::one(node("Transpose", &["x"], vec![ints("perm", &[2, 0, 1])])).run(&[2, 3, 4], &x);
    assert_eq!(shape, [4, 2, 3]);
    assert_eq!(&y[..6], &[0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
    let (shape, y) =
        Graph::one(node("Concat", &["x", "x"], vec![int("axis", -1)])).run(&[1, 2], &[1.0, 2.0]);
    assert_eq!((shape, y), (vec![1, 4], vec![1.0, 2.0, 1.0, 2.0]));
    let (shape, _) = Graph::one(node("Squeeze", &["x", "a"], vec![]))
        .with(int64s("a", &[1, -1]))
        .run(&[2, 1, 3, 1], &x[..6]);
    assert_eq!(shape, [2, 3]);
    let (shape, _) = Graph::one(node("Squeeze", &["x"], vec![])).run(&[1, 4, 1], &x[..4]);
    assert_eq!(shape, [4], "every axis of size 1 without axes");
    let (shape, _) = Graph::one(node("Unsqueeze", &["x", "a"], vec![]))
        .with(int64s("a", &[0, 3]))
        .run(&[2, 3], &x[..6]);
    assert_eq!(shape, [1, 2, 3, 1]);
    let (shape, y) = Graph::one(node("Identity", &["x"], vec![])).run(&[2], &[3.0, 4.0]);
    assert_eq!((shape, y), (vec![2], vec![3.0, 4.0]));
}

#[test]
fn softmax_follows_the_opset() {
    let x = [1.0, 2.0, 3.0, 1.0, 1.0, 1.0];
    let e = |v: f32| v.exp();
    let row = e(1.0) + e(2.0) + e(3.0);
    let (_, y) = Graph::one(node("Softmax", &["x"], vec![])).run(&[2, 3], &x);
    assert_close(
        &y,
        &[
            e(1.0) / row,
            e(2.0) / row,
            e(3.0) / row,
            1.0 / 3.0,
            1.0 / 3.0,
            1.0 / 3.0,
        ],
    );
    // Opset 11, axis 1 on a 1×2×3 tensor: one softmax over all six values.
    let all = 4.0 * e(1.0) + e(2.0) + e(3.0);
    let (shape, y) = Graph::one(node("Softmax", &["x"], vec![int("axis", 1)]))
        .opset(11)
        .run(&[1, 2, 3], &x);
    assert_eq!(shape, [1, 2, 3]);
    assert_close(&y, &x.map(|v| e(v) / all));
}

#[test]
fn pad_and_resize() {
    let x = [1.0, 2.0, 3.0, 4.0];
    let pad = node("Pad", &["x", "p", "v"], vec![]);
    let (shape, y) = Graph::one(pad)
        .with(int64s("p", &[0, 0, 1, 0, 0, 0, 0, 1]))
        .with(floats("v", &[], &[9.0]))
        .run(&[1, 1, 2, 2], &x);
    assert_eq!(shape, [1, 1, 3, 3]);
    assert_eq!(y, [9.0, 9.0, 9.0, 1.0, 2.0, 9.0, 3.0, 4.0, 9.0]);
    let resize = node(
        "Resize",
        &["x", "", "s"],
        vec![build::string("mode", "nearest")],
    );
    let (shape, y) = Graph::one(resize)
        .with(floats("s", &[4], &[1.0, 1.0, 2.0, 2.0]))
        .run(&[1, 1, 2, 2], &x);
    assert_eq!(shape, [1, 1, 4, 4]);
    assert_eq!(&y[..8], &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
}

#[test]
fn constant_nodes_feed_later_nodes() {
    let constant = pb::NodeProto {
        op_type: "Constant".into(),
        output: vec!["k".into()],
        attribute: vec![pb::AttributeProto {
            name: "value".into(),
            r#type: AttributeType::Tensor as i32,
            t: Some(floats("", &[1], &[5.0])),
            ..Default::default()
        }],
        ..Default::default()
    };
    let graph = Graph {
        nodes: vec![constant, node("Mul", &["x", "k"], vec![])],
        initializers: Vec::new(),
        opset: 13,
    };
    assert_eq!(graph.run(&[2], &[1.0, 2.0]).1, [5.0, 10.0]);
}

#[test]
fn an_unsupported_operator_fails_at_load_naming_it_the_node_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = Graph::one(node("LSTM", &["x"], vec![])).write(dir.path(), &[1, 2]);
    let options = LoadOptions {
        threads: 1,
        ..LoadOptions::default()
    };
    let err = CandleBackend
        .load(&path, ModelFormat::Onnx, &options)
        .err()
        .expect("a load error")
        .to_string();
    for part in ["LSTM", "the_lstm", &path.display().to_string(), "candle"] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
}
