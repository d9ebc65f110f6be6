//! The operations of an execution plan: each ONNX node bound, at load time, to candle tensor operations with
//! its attributes parsed and its constant operands (weights, folded batch-norm factors) already candle tensors.
//! Running one only calls candle.

use candle_core::{DType, Device, IndexOp, Result, Tensor};

/// A 2-D convolution's geometry, from the ONNX attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvGeometry {
    /// Zero padding before and after, for height then width.
    pub pads: [(usize, usize); 2],
    pub stride: usize,
    pub dilation: usize,
    pub kernel: (usize, usize),
}

/// How a convolution is computed.
#[derive(Clone, Debug)]
pub enum ConvKernel {
    /// candle's `conv2d` (im2col and a matrix product, one per group).
    Candle { weight: Tensor, groups: usize },
    /// One output channel per input channel. candle's `conv2d` splits a grouped convolution into one small
    /// convolution per group (960 for one MobileNetV2 layer); this composition instead multiplies each of the
    /// kernel's kh×kw shifted views of the input by that tap's per-channel weights and adds them up.
    Depthwise {
        /// One `(1, C, 1, 1)` tensor per tap, row-major over the kernel.
        taps: Vec<Tensor>,
    },
}

#[derive(Clone, Debug)]
pub struct Conv {
    pub geometry: ConvGeometry,
    pub kernel: ConvKernel,
    /// `(1, C_out, 1, 1)`.
    pub bias: Option<Tensor>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub pads: [(usize, usize); 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arithmetic {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Debug)]
pub enum Op {
    Conv(Box<Conv>),
    /// Inference batch normalisation, folded at load time to `x · scale + shift`, both `(1, C, 1, 1)`.
    BatchNorm {
        scale: Tensor,
        shift: Tensor,
    },
    Relu,
    Clip {
        min: f32,
        max: f32,
    },
    HardSwish,
    Sigmoid,
    /// Numpy-style broadcasting, as ONNX specifies.
    Binary(Arithmetic),
    GlobalAveragePool,
    Pool(Pool),
    /// `alpha · A' · B' + beta · C`, with B' (constant) already transposed and scaled by alpha, and C scaled.
    Gemm {
        transpose_a: bool,
        b: Tensor,
        c: Option<Tensor>,
    },
    MatMul,
    Flatten {
        axis: i64,
    },
    Reshape {
        shape: Vec<i64>,
        allow_zero: bool,
    },
    Transpose {
        perm: Vec<usize>,
    },
    /// Removes the given axes (all of size 1), or every axis of size 1 when none are given.
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    /// Inserts axes of size 1 at the given positions of the output.
    Unsqueeze {
        axes: Vec<i64>,
    },
    Concat {
        axis: i64,
    },
    Softmax {
        axis: i64,
        /// Before opset 13, Softmax flattens to 2-D at `axis` and normalises over everything after it.
        flatten: bool,
    },
    /// Constant padding: (before, after) per dimension.
    Pad {
        pads: Vec<(usize, usize)>,
        value: f32,
    },
    /// Nearest-neighbour upsampling of the last two dimensions by whole factors.
    ResizeNearest {
        factors: (usize, usize),
    },
    Identity,
}

/// A negative ONNX axis counts from the end.
pub fn axis_index(axis: i64, rank: usize) -> Result<usize> {
    let resolved = if axis < 0 { axis + rank as i64 } else { axis };
    if resolved < 0 || resolved >= rank as i64 {
        candle_core::bail!("axis {axis} is out of range for a tensor of rank {rank}");
    }
    Ok(resolved as usize)
}

impl Op {
    pub fn run(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        let x = inputs[0];
        match self {
            Op::Conv(conv) => conv.run(x),
            Op::BatchNorm { scale, shift } => x.broadcast_mul(scale)?.broadcast_add(shift),
            Op::Relu => x.relu(),
            Op::Clip { min, max } => clip(x, *min, *max),
            // x · relu6(x + 3) / 6
            Op::HardSwish => x.mul(
                &x.affine(1.0, 3.0)?
                    .clamp(0f32, 6f32)?
                    .affine(1.0 / 6.0, 0.0)?,
            ),
            Op::Sigmoid => candle_nn::ops::sigmoid(x),
            Op::Binary(op) => {
                let y = inputs[1];
                match op {
                    Arithmetic::Add => x.broadcast_add(y),
                    Arithmetic::Sub => x.broadcast_sub(y),
                    Arithmetic::Mul => x.broadcast_mul(y),
                    Arithmetic::Div => x.broadcast_div(y),
                }
            }
            Op::GlobalAveragePool => x.mean_keepdim((2, 3)),
            Op::Pool(pool) => pool.run(x),
            Op::Gemm { transpose_a, b, c } => {
                let a = if *transpose_a { x.t()? } else { x.clone() };
                let product = a.matmul(b)?;
                match c {
                    Some(c) => product.broadcast_add(c),
                    None => Ok(product),
                }
            }
            Op::MatMul => x.broadcast_matmul(inputs[1]),
            Op::Flatten { axis } => {
                let dims = x.dims();
                let axis = if *axis == dims.len() as i64 {
                    dims.len()
                } else {
                    axis_index(*axis, dims.len())?
                };
                let outer: usize = dims[..axis].iter().product();
                x.reshape((outer, dims[axis..].iter().product::<usize>()))
            }
            Op::Reshape { shape, allow_zero } => {
                x.reshape(reshape_target(x.dims(), shape, *allow_zero)?)
            }
            Op::Transpose { perm } => x.permute(perm.clone()),
            Op::Squeeze { axes } => {
                let dims = x.dims();
                let drop = match axes {
                    Some(axes) => axes
                        .iter()
                        .map(|&a| axis_index(a, dims.len()))
                        .collect::<Result<Vec<_>>>()?,
                    None => (0..dims.len()).filter(|&i| dims[i] == 1).collect(),
                };
                if let Some(&axis) = drop.iter().find(|&&a| dims[a] != 1) {
                    candle_core::bail!("Squeeze: axis {axis} has size {}, not 1", dims[axis]);
                }
                let kept: Vec<usize> = (0..dims.len())
                    .filter(|i| !drop.contains(i))
                    .map(|i| dims[i])
                    .collect();
                x.reshape(kept)
            }
            Op::Unsqueeze { axes } => {
                let rank = x.rank() + axes.len();
                let inserted = axes
                    .iter()
                    .map(|&a| axis_index(a, rank))
                    .collect::<Result<Vec<_>>>()?;
                let mut source = x.dims().iter();
                let shape: Vec<usize> = (0..rank)
                    .map(|i| {
                        if inserted.contains(&i) {
                            1
                        } else {
                            *source.next().unwrap_or(&1)
                        }
                    })
                    .collect();
                x.reshape(shape)
            }
            Op::Concat { axis } => Tensor::cat(inputs, axis_index(*axis, x.rank())?),
            Op::Softmax { axis, flatten } => {
                let dims = x.dims().to_vec();
                let axis = axis_index(*axis, dims.len())?;
                if *flatten && axis != dims.len() - 1 {
                    let outer: usize = dims[..axis].iter().product();
                    let flat = x.reshape((outer, dims[axis..].iter().product::<usize>()))?;
                    candle_nn::ops::softmax_last_dim(&flat)?.reshape(dims)
                } else if axis == dims.len() - 1 {
                    candle_nn::ops::softmax_last_dim(&x.contiguous()?)
                } else {
                    candle_nn::ops::softmax(x, axis)
                }
            }
            Op::Pad { pads, value } => pad(x, pads, *value),
            Op::ResizeNearest { factors } => {
                let (h, w) = (x.dim(2)?, x.dim(3)?);
                x.upsample_nearest2d(h * factors.0, w * factors.1)
            }
            Op::Identity => Ok(x.clone()),
        }
    }
}

/// Clip from candle's unary kernels: lo + relu(x − lo) − relu(x − hi). candle's own `clamp` compares with a
/// scalar broadcast to the tensor's shape, which walks every element through its strided-index path; relu and
/// affine run over contiguous memory. With lo = 0 (ReLU6, MobileNet's activation) the result is exact.
fn clip(x: &Tensor, min: f32, max: f32) -> Result<Tensor> {
    let (lo, hi) = (f64::from(min), f64::from(max));
    let above_lo = |x: &Tensor| -> Result<Tensor> {
        if lo == 0.0 {
            x.relu()
        } else {
            x.affine(1.0, -lo)?.relu()
        }
    };
    match (min > f32::MIN, max < f32::MAX) {
        (true, true) => {
            let clipped = above_lo(x)?.sub(&x.affine(1.0, -hi)?.relu()?)?;
            if lo == 0.0 {
                Ok(clipped)
            } else {
                clipped.affine(1.0, lo)
            }
        }
        (true, false) => {
            let above = above_lo(x)?;
            if lo == 0.0 {
                Ok(above)
            } else {
                above.affine(1.0, lo)
            }
        }
        // hi − relu(hi − x)
        (false, true) => x.affine(-1.0, hi)?.relu()?.affine(-1.0, hi),
        (false, false) => Ok(x.clone()),
    }
}

/// ONNX Reshape's target: 0 copies the input's dimension (unless `allow_zero`), −1 takes what is left.
pub fn reshape_target(input: &[usize], shape: &[i64], allow_zero: bool) -> Result<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut known = 1usize;
    let mut hole = None;
    let mut dims = Vec::with_capacity(shape.len());
    for (i, &d) in shape.iter().enumerate() {
        let dim = match d {
            -1 if hole.is_none() => {
                hole = Some(i);
                1
            }
            0 if !allow_zero => *input.get(i).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "Reshape copies dimension {i}, which the input lacks"
                ))
            })?,
            d if d >= 0 => d as usize,
            _ => candle_core::bail!("Reshape target {shape:?} is not valid"),
        };
        known *= dim;
        dims.push(dim);
    }
    if let Some(i) = hole {
        if known == 0 || !total.is_multiple_of(known) {
            candle_core::bail!("cannot reshape {input:?} to {shape:?}");
        }
        dims[i] = total / known;
    }
    Ok(dims)
}

/// Pads with a constant, dimension by dimension.
fn pad(x: &Tensor, pads: &[(usize, usize)], value: f32) -> Result<Tensor> {
    let mut out = x.clone();
    for (dim, &(before, after)) in pads.iter().enumerate() {
        if before == 0 && after == 0 {
            continue;
        }
        if value == 0.0 {
            out = out.pad_with_zeros(dim, before, after)?;
            continue;
        }
        let mut parts = Vec::with_capacity(3);
        for (count, is_input) in [(before, false), (0, true), (after, false)] {
            if is_input {
                parts.push(out.clone());
            } else if count > 0 {
                let mut shape = out.dims().to_vec();
                shape[dim] = count;
                parts.push(Tensor::full(value, shape, out.device())?.to_dtype(out.dtype())?);
            }
        }
        out = Tensor::cat(&parts, dim)?;
    }
    Ok(out)
}

impl Conv {
    fn run(&self, x: &Tensor) -> Result<Tensor> {
        let g = &self.geometry;
        let out = match &self.kernel {
            ConvKernel::Candle { weight, groups } => {
                let [(top, bottom), (left, right)] = g.pads;
                if top == bottom && left == right && top == left {
                    x.conv2d(weight, top, g.stride, g.dilation, *groups)?
                } else {
                    let padded = x
                        .pad_with_zeros(2, top, bottom)?
                        .pad_with_zeros(3, left, right)?;
                    padded.conv2d(weight, 0, g.stride, g.dilation, *groups)?
                }
            }
            ConvKernel::Depthwise { taps } => self.depthwise(x, taps)?,
        };
        match &self.bias {
            Some(bias) => out.broadcast_add(bias),
            None => Ok(out),
        }
    }

    /// Σ over the kernel's taps of (the input shifted to that tap, every `stride`-th element) × (the tap's
    /// per-channel weight). The strided views come from one reshape of the padded input into
    /// `(N, C, H/s, s, W/s, s)`, so no tap copies the input.
    fn depthwise(&self, x: &Tensor, taps: &[Tensor]) -> Result<Tensor> {
        let g = &self.geometry;
        let (s, d) = (g.stride, g.dilation);
        let (_, _, h, w) = x.dims4()?;
        let [(top, bottom), (left, right)] = g.pads;
        let (kh, kw) = g.kernel;
        let (padded_h, padded_w) = (h + top + bottom, w + left + right);
        let out_h = (padded_h - d * (kh - 1) - 1) / s + 1;
        let out_w = (padded_w - d * (kw - 1) - 1) / s + 1;
        // Rows (columns) the reshaped view must hold: the furthest tap's block offset plus the output size.
        let blocks_h = d * (kh - 1) / s + out_h;
        let blocks_w = d * (kw - 1) / s + out_w;
        let x = fit(x, 2, top, bottom, s * blocks_h)?;
        let x = fit(&x, 3, left, right, s * blocks_w)?;
        let (n, c, _, _) = x.dims4()?;
        let phased = x.reshape((n, c, blocks_h, s, blocks_w, s))?;
        let mut sum: Option<Tensor> = None;
        for (t, weight) in taps.iter().enumerate() {
            let (row, col) = (d * (t / kw), d * (t % kw));
            let view = phased.i((
                ..,
                ..,
                row / s..row / s + out_h,
                row % s,
                col / s..col / s + out_w,
                col % s,
            ))?;
            let term = view.broadcast_mul(weight)?;
            sum = Some(match sum {
                Some(acc) => acc.add(&term)?,
                None => term,
            });
        }
        sum.ok_or_else(|| candle_core::Error::Msg("a convolution kernel without taps".into()))
    }
}

/// Pads `dim` with `before` zeros, then pads or crops the end so that the dimension is `length` long.
fn fit(x: &Tensor, dim: usize, before: usize, after: usize, length: usize) -> Result<Tensor> {
    let padded = x.dim(dim)? + before + after;
    if padded >= length {
        x.pad_with_zeros(dim, before, after)?.narrow(dim, 0, length)
    } else {
        x.pad_with_zeros(dim, before, after + (length - padded))
    }
}

impl Pool {
    fn run(&self, x: &Tensor) -> Result<Tensor> {
        let [(top, bottom), (left, right)] = self.pads;
        let padded = if top + bottom + left + right == 0 {
            x.clone()
        } else {
            // Max-pooling pads with −∞ (padding never wins); average pooling is only accepted at load time
            // when padded zeros count, as ONNX's count_include_pad = 1.
            let value = match self.kind {
                PoolKind::Max => f32::NEG_INFINITY,
                PoolKind::Average => 0.0,
            };
            pad(x, &[(0, 0), (0, 0), (top, bottom), (left, right)], value)?
        };
        match self.kind {
            PoolKind::Max => padded.max_pool2d_with_stride(self.kernel, self.stride),
            PoolKind::Average => padded.avg_pool2d_with_stride(self.kernel, self.stride),
        }
    }
}

/// A float tensor on the CPU.
pub fn tensor(values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(values, shape, &Device::Cpu)
}

/// Reads a tensor back as f32 values, whatever its layout.
pub fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
}
