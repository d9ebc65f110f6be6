//! NCNN through its C API, linked statically from the library the set-up step builds from the PyPI sdist.
//!
//! NCNN reads neither ONNX nor TFLite: an ONNX model is converted by `pnnx` into a param/bin pair, once per
//! model file (see `convert`), and the conversion time is reported apart from the load time. pnnx names the
//! inputs `in0, in1, …` and the outputs `out0, out1, …` in the ONNX file's order; the session maps them back
//! to the model's names and shapes. The batch dimension (1) is not part of an NCNN `Mat`.
//!
//! Arithmetic and storage are fp32 by default (NCNN's x86 default stores weights as fp16); the option
//! `precision = "fp16"` turns fp16 storage, packing and arithmetic on and is labelled as reduced precision.

mod convert;
mod ffi;

use harness_backend_api::{
    BackendError, Engine, EngineSession, LoadRequest, ModelFormat, Opened, Profiling, Setting,
    Tensor, TensorData, TensorInfo,
};
use std::ffi::{c_int, CStr, CString};
use std::path::Path;
use std::time::Duration;

pub use convert::{PNNX_VARIABLE, PNNX_VERSION};

const NAME: &str = "ncnn";
/// The sdist the library was built from (`ncnn_version()` reports only the build date).
pub const NCNN_VERSION: &str = env!("HARNESS_NCNN_VERSION");

pub struct NcnnBackend;

impl Engine for NcnnBackend {
    const NAME: &'static str = NAME;
    const OPTIONS: &'static [&'static str] = &["precision"];
    const THREADS_NOTE: &'static str =
        "NCNN's `num_threads = N`: each layer runs an OpenMP parallel loop \
over N threads (libgomp's pool, kept between layers).";
    const PROFILING: Profiling = Profiling::Unsupported(
        "ncnn's C API has no per-layer timing (its layer benchmark is the NCNN_BENCHMARK build option, which \
         prints to the console)",
    );
    type Session = NcnnSession;

    fn unread_format_hint(&self, _format: ModelFormat) -> Option<String> {
        Some("pnnx converts ONNX for NCNN; give it the ONNX file".to_string())
    }

    fn version(&self) -> String {
        NCNN_VERSION.to_string()
    }

    fn runtime(&self) -> Result<String, String> {
        // SAFETY: returns a static string.
        let built = unsafe { CStr::from_ptr(ffi::ncnn_version()) }.to_string_lossy();
        Ok(format!(
            "statically linked (PyPI sdist ncnn=={NCNN_VERSION}, built {built}); ONNX converted by pnnx {PNNX_VERSION}"
        ))
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<NcnnSession>, BackendError> {
        let precision = Precision::from_option(request.options.get_str("precision"))?;
        let load_error = |reason: String| request.error(reason);
        let harness_onnx_graph::FloatModel {
            inputs, outputs, ..
        } = harness_onnx_graph::read_float_model(
            request,
            "the harness feeds and reads NCNN's f32 mats",
        )?;
        // pnnx needs every dimension: the scenario's shapes are bound into `inputs` already.
        let shapes: Vec<Vec<usize>> = inputs
            .iter()
            .map(|input| input.shape.iter().map(|d| d.unwrap_or(1)).collect())
            .collect();
        let converted = convert::convert(
            request.model,
            &shapes,
            &harness_backend_api::cache::cache_root(),
        )
        .map_err(load_error)?;
        let threads = request.threads;
        let net =
            Net::load(&converted.param, &converted.bin, threads, precision).map_err(load_error)?;
        let (blob_inputs, blob_outputs) = net.blob_names();
        // pnnx names blob i of the file's inputs `in{i}` and of its outputs `out{i}`, whatever order the
        // param file lists them in: asked for by these names, the outputs come in the file's declared order.
        let (in_names, out_names) = (numbered("in", inputs.len()), numbered("out", outputs.len()));
        if !same_names(&blob_inputs, &in_names) || !same_names(&blob_outputs, &out_names) {
            return Err(load_error(format!(
                "the converted network has inputs {blob_inputs:?} and outputs {blob_outputs:?}; expected \
                 pnnx's in0.. for the model's {} inputs and out0.. for its {} outputs",
                inputs.len(),
                outputs.len()
            )));
        }
        Ok(Opened {
            session: NcnnSession {
                net,
                input_names: in_names.iter().map(|n| cstring(n)).collect(),
                output_names: out_names.iter().map(|n| cstring(n)).collect(),
                declared_outputs: outputs.clone(),
                threads,
                precision,
                conversion: converted.conversion,
                converted_from: converted.param,
                last: Vec::new(),
            },
            inputs,
            outputs,
        })
    }
}

fn numbered(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// The same names, in any order.
fn same_names(found: &[String], expected: &[String]) -> bool {
    let mut found = found.to_vec();
    found.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    found == expected
}

fn cstring(text: &str) -> CString {
    CString::new(text).expect("blob names come from C strings")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Precision {
    Fp32,
    Fp16,
}

impl Precision {
    fn from_option(value: Option<&str>) -> Result<Precision, BackendError> {
        match value {
            None | Some("fp32") => Ok(Precision::Fp32),
            Some("fp16") => Ok(Precision::Fp16),
            Some(other) => Err(BackendError::Option {
                engine: NAME.to_string(),
                reason: format!("option `precision` must be fp32 or fp16, not `{other}`"),
            }),
        }
    }
}

/// A loaded network and the options it was loaded with; both released on drop.
struct Net {
    net: ffi::Net,
    options: ffi::Options,
}

impl Net {
    fn load(param: &Path, bin: &Path, threads: usize, precision: Precision) -> Result<Net, String> {
        let path = |p: &Path| {
            CString::new(p.as_os_str().as_encoded_bytes())
                .map_err(|_| format!("{} contains a NUL byte", p.display()))
        };
        let (param_c, bin_c) = (path(param)?, path(bin)?);
        // SAFETY: each handle is created here and owned by the returned `Net` (or destroyed by its drop when
        // a later step fails); NCNN copies the options into the net.
        unsafe {
            let net = Net {
                net: ffi::ncnn_net_create(),
                options: ffi::ncnn_option_create(),
            };
            let reduced = c_int::from(precision == Precision::Fp16);
            ffi::ncnn_option_set_use_vulkan_compute(net.options, 0);
            ffi::ncnn_option_set_num_threads(
                net.options,
                c_int::try_from(threads).unwrap_or(c_int::MAX),
            );
            ffi::ncnn_option_set_use_fp16_storage(net.options, reduced);
            ffi::ncnn_option_set_use_fp16_packed(net.options, reduced);
            ffi::ncnn_option_set_use_fp16_arithmetic(net.options, reduced);
            ffi::ncnn_option_set_use_bf16_storage(net.options, 0);
            ffi::ncnn_net_set_option(net.net, net.options);
            if ffi::ncnn_net_load_param(net.net, param_c.as_ptr()) != 0 {
                return Err(format!(
                    "NCNN rejected the converted network {}",
                    param.display()
                ));
            }
            if ffi::ncnn_net_load_model(net.net, bin_c.as_ptr()) != 0 {
                return Err(format!("NCNN could not read the weights {}", bin.display()));
            }
            Ok(net)
        }
    }

    fn blob_names(&self) -> (Vec<String>, Vec<String>) {
        // SAFETY: indices below the counts NCNN reports; names are owned by the net.
        unsafe {
            let name =
                |p: *const std::ffi::c_char| CStr::from_ptr(p).to_string_lossy().into_owned();
            let inputs = (0..ffi::ncnn_net_get_input_count(self.net))
                .map(|i| name(ffi::ncnn_net_get_input_name(self.net, i)))
                .collect();
            let outputs = (0..ffi::ncnn_net_get_output_count(self.net))
                .map(|i| name(ffi::ncnn_net_get_output_name(self.net, i)))
                .collect();
            (inputs, outputs)
        }
    }

    /// The options as NCNN holds them, read back for the record.
    fn applied(&self) -> [(&'static str, c_int); 5] {
        // SAFETY: a live options handle.
        unsafe {
            [
                (
                    "num_threads",
                    ffi::ncnn_option_get_num_threads(self.options),
                ),
                (
                    "use_fp16_storage",
                    ffi::ncnn_option_get_use_fp16_storage(self.options),
                ),
                (
                    "use_fp16_packed",
                    ffi::ncnn_option_get_use_fp16_packed(self.options),
                ),
                (
                    "use_fp16_arithmetic",
                    ffi::ncnn_option_get_use_fp16_arithmetic(self.options),
                ),
                (
                    "use_bf16_storage",
                    ffi::ncnn_option_get_use_bf16_storage(self.options),
                ),
            ]
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // SAFETY: both handles were created by `Net::load` and are released once.
        unsafe {
            ffi::ncnn_net_destroy(self.net);
            ffi::ncnn_option_destroy(self.options);
        }
    }
}

/// An NCNN `Mat`, released on drop.
pub struct Mat(ffi::Mat);

impl Drop for Mat {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: created by NCNN and released once.
            unsafe { ffi::ncnn_mat_destroy(self.0) };
        }
    }
}

impl Mat {
    /// A float mat for a tensor of shape `[1, c, h, w]` (or fewer trailing dimensions), filled channel by
    /// channel: NCNN pads each channel to an aligned stride, so one flat copy would misplace the data.
    fn from_tensor(tensor: &Tensor) -> Result<Mat, String> {
        let TensorData::F32(values) = &tensor.data else {
            return Err(format!(
                "{} input; NCNN mats here hold f32",
                tensor.element_type()
            ));
        };
        let dims = match tensor.shape.split_first() {
            Some((1, rest)) if (1..=4).contains(&rest.len()) => rest,
            _ => {
                return Err(format!(
                    "input of shape {:?}: NCNN takes a batch of one with one to four further dimensions",
                    tensor.shape
                ))
            }
        };
        let int = |d: usize| c_int::try_from(d).map_err(|_| format!("dimension {d} is too large"));
        // SAFETY: plain constructors; a null result (allocation failure) is checked below.
        let mat = Mat(unsafe {
            let null = std::ptr::null_mut();
            match *dims {
                [w] => ffi::ncnn_mat_create_1d(int(w)?, null),
                [h, w] => ffi::ncnn_mat_create_2d(int(w)?, int(h)?, null),
                [c, h, w] => ffi::ncnn_mat_create_3d(int(w)?, int(h)?, int(c)?, null),
                [c, d, h, w] => ffi::ncnn_mat_create_4d(int(w)?, int(h)?, int(d)?, int(c)?, null),
                _ => unreachable!("checked above"),
            }
        });
        if mat.0.is_null() {
            return Err(format!(
                "NCNN could not allocate a mat of shape {:?}",
                tensor.shape
            ));
        }
        let channels = if dims.len() >= 3 { dims[0] } else { 1 };
        let per_channel = values.len() / channels;
        for (channel, chunk) in values.chunks_exact(per_channel).enumerate() {
            // SAFETY: the mat holds `channels` channels of at least `per_channel` floats each.
            unsafe {
                let data = ffi::ncnn_mat_get_channel_data(mat.0, channel as c_int).cast::<f32>();
                std::ptr::copy_nonoverlapping(chunk.as_ptr(), data, per_channel);
            }
        }
        Ok(mat)
    }

    /// The mat's values without channel padding, and its dimensions outermost first.
    fn values(&self) -> Result<(Vec<usize>, Vec<f32>), String> {
        // SAFETY: a live mat; each channel holds w*h*d elements of `elemsize` bytes.
        unsafe {
            let m = self.0;
            if ffi::ncnn_mat_get_elemsize(m) != 4 {
                return Err(format!(
                    "an output with {}-byte elements (expected f32)",
                    ffi::ncnn_mat_get_elemsize(m)
                ));
            }
            let [w, h, d, c] = [
                ffi::ncnn_mat_get_w(m),
                ffi::ncnn_mat_get_h(m),
                ffi::ncnn_mat_get_d(m),
                ffi::ncnn_mat_get_c(m),
            ]
            .map(|v| v.max(1) as usize);
            let dims = match ffi::ncnn_mat_get_dims(m) {
                1 => vec![w],
                2 => vec![h, w],
                3 => vec![c, h, w],
                _ => vec![c, d, h, w],
            };
            let per_channel = w * h * d;
            let mut values = Vec::with_capacity(per_channel * c);
            for channel in 0..c {
                let data = ffi::ncnn_mat_get_channel_data(m, channel as c_int).cast::<f32>();
                values.extend_from_slice(std::slice::from_raw_parts(data, per_channel));
            }
            Ok((dims, values))
        }
    }
}

pub struct NcnnSession {
    net: Net,
    input_names: Vec<CString>,
    output_names: Vec<CString>,
    /// The model file's outputs: their shapes put back the batch dimension NCNN drops.
    declared_outputs: Vec<TensorInfo>,
    threads: usize,
    precision: Precision,
    conversion: Option<Duration>,
    converted_from: std::path::PathBuf,
    last: Vec<Mat>,
}

fn to_mats(inputs: &[Tensor]) -> Result<Vec<Mat>, BackendError> {
    inputs
        .iter()
        .map(|t| Mat::from_tensor(t).map_err(|reason| BackendError::input(NAME, reason)))
        .collect()
}

impl EngineSession for NcnnSession {
    type Inputs = Vec<Mat>;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Mat>, BackendError> {
        to_mats(&inputs)
    }

    fn run(&mut self, mats: &mut Vec<Mat>) -> Result<(), BackendError> {
        let run_error = |reason: String| BackendError::run(NAME, reason);
        // An extractor per run, as NCNN's examples do: it holds the intermediate blobs of one inference.
        // SAFETY: the extractor is created from the live net and destroyed before returning; the input mats
        // outlive it; each extracted mat is owned by a `Mat` wrapper.
        unsafe {
            let extractor = ffi::ncnn_extractor_create(self.net.net);
            let result = (|| {
                for (name, mat) in self.input_names.iter().zip(mats) {
                    if ffi::ncnn_extractor_input(extractor, name.as_ptr(), mat.0) != 0 {
                        return Err(run_error(format!("NCNN refused the input {name:?}")));
                    }
                }
                let mut outputs = Vec::with_capacity(self.output_names.len());
                for name in &self.output_names {
                    let mut mat = Mat(std::ptr::null_mut());
                    let status = ffi::ncnn_extractor_extract(extractor, name.as_ptr(), &mut mat.0);
                    if status != 0 || mat.0.is_null() {
                        return Err(run_error(format!(
                            "NCNN could not compute {name:?} (status {status})"
                        )));
                    }
                    outputs.push(mat);
                }
                Ok(outputs)
            })();
            ffi::ncnn_extractor_destroy(extractor);
            self.last = result?;
        }
        Ok(())
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.last
            .iter()
            .zip(&self.declared_outputs)
            .map(|(mat, info)| {
                let (dims, values) = mat
                    .values()
                    .map_err(|reason| BackendError::run(NAME, reason))?;
                // NCNN drops the batch dimension; the model's declared shape puts it back when it fits.
                let declared: Option<Vec<usize>> = info.shape.iter().copied().collect();
                let shape = match declared {
                    Some(shape) if shape.iter().product::<usize>() == values.len() => shape,
                    _ => [vec![1], dims].concat(),
                };
                Ok(Tensor {
                    shape,
                    data: TensorData::F32(values),
                })
            })
            .collect()
    }

    fn settings(&self) -> Vec<Setting> {
        let mut settings = vec![
            Setting::new("threads", self.threads),
            Setting::new(
                "precision",
                match self.precision {
                    Precision::Fp32 => "fp32",
                    Precision::Fp16 => "fp16",
                },
            ),
        ];
        settings.extend(
            self.net
                .applied()
                .into_iter()
                .map(|(key, value)| Setting::new(key, value)),
        );
        settings.push(Setting::new(
            "converted",
            format!(
                "pnnx {PNNX_VERSION} → {}{}",
                self.converted_from.display(),
                if self.conversion.is_some() {
                    ""
                } else {
                    " (cached)"
                }
            ),
        ));
        settings
    }

    fn conversion_time(&self) -> Option<Duration> {
        self.conversion
    }
}
