//! MNN through the C API of `mnn-sys`, which builds MNN 3.6.1 from the source it vendors and links it
//! statically.
//!
//! MNN reads its own format: an ONNX or TFLite model is converted by `mnnconvert` (see `convert`), once per
//! model file, and the conversion time is reported apart from the load time. The scenario's input shapes are
//! applied by resizing the session's inputs, so one conversion serves every shape.
//!
//! A run copies each input into the session (MNN packs 4-D float tensors as NC4HW4), runs the network, and
//! copies each output back into a plain host tensor: what an application does to use MNN, so all of it is
//! timed.
//!
//! MNN has no int64 tensors: its converter turns int64 inputs and outputs into int32. Where the ONNX file declares
//! int64 the session keeps int64 towards the harness: it takes int64 values that fit in 32 bits, and widens the
//! int32 outputs back.

mod convert;
mod net;

use harness_backend_api::{
    BackendError, ElementType, Engine, EngineSession, LoadRequest, ModelFormat, Opened, Profile,
    Profiling, Setting, Tensor, TensorData, TensorInfo,
};
use mnn_sys as ffi;
use net::{HostTensor, Net, Port, Schedule};
use std::time::Duration;

pub use convert::{CONVERTER_VARIABLE, CONVERTER_VERSION};

const NAME: &str = "mnn";
/// The MNN release `mnn-sys` vendors (MNNDefine.h's MNN_VERSION).
pub const MNN_VERSION: &str = "3.6.1";

/// The CPU kernels this build of MNN holds; MNN picks among them by what the CPU has, at run time. The x86
/// ones follow from backends/mnn/build-options.cmake, which .cargo/config.toml hands to mnn-sys's cmake build.
#[cfg(target_arch = "x86_64")]
const KERNELS: &str = "SSE, AVX2 and AVX-512 kernels";
#[cfg(not(target_arch = "x86_64"))]
const KERNELS: &str = "NEON kernels, ARMv8.2 fp16 and dot-product ones where the CPU has them";

pub struct MnnBackend;

impl Engine for MnnBackend {
    const NAME: &'static str = NAME;
    const OPTIONS: &'static [&'static str] = &["precision", "memory", "power"];
    const THREADS_NOTE: &'static str = "MNN's `numThread = N` in the session's schedule: its CPU \
backend splits each operator's work over N threads of MNN's own pool.";
    /// Each operator of the converted model timed between MNN's callbacks before and after it.
    const PROFILING: Profiling = Profiling::Supported;
    type Session = MnnSession;

    fn version(&self) -> String {
        MNN_VERSION.to_string()
    }

    fn runtime(&self) -> Result<String, String> {
        let converter = convert::converter_module()?;
        Ok(format!(
            "statically linked (crate mnn-sys 0.2.0, MNN {MNN_VERSION} built from its source with {KERNELS}); \
             ONNX and TFLite converted by mnnconvert {CONVERTER_VERSION} ({})",
            converter.display()
        ))
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<MnnSession>, BackendError> {
        let modes = Modes::from_options(request)?;
        let converted = convert::convert(
            request.model,
            request.format,
            &harness_backend_api::cache::cache_root(),
        )
        .map_err(|e| request.error(e))?;
        let bytes = std::fs::read(&converted.model).map_err(|e| {
            request.error(format!("cannot read {}: {e}", converted.model.display()))
        })?;
        let output_order = convert::output_names(&bytes).map_err(|e| request.error(e))?;
        let threads = request.threads;
        let net = Net::load(
            &converted.model,
            Schedule {
                threads,
                precision: modes.precision.0,
                memory: modes.memory.0,
                power: modes.power.0,
            },
        )
        .map_err(|e| request.error(e))?;

        let file_types = file_element_types(request);
        let describe_all = |ports: &[Port], what: &str| {
            ports
                .iter()
                .map(|port| describe(port, what, &file_types))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|e| request.error(e))
        };
        let input_ports = net.inputs();
        let declared = describe_all(&input_ports, "input")?;
        for (port, shape) in input_ports.iter().zip(request.bound_shapes(&declared)?) {
            if let Some(shape) = shape {
                net.resize_input(port, &shape)
                    .map_err(|e| request.error(e))?;
            }
        }
        net.resize().map_err(|e| request.error(e))?;

        let mut output_ports = net.outputs();
        output_ports.sort_by_key(|port| output_order.iter().position(|name| *name == port.name));
        let (inputs, outputs) = (
            describe_all(&input_ports, "input")?,
            describe_all(&output_ports, "output")?,
        );
        let unknown = |info: &TensorInfo| info.shape.contains(&None);
        if let Some(open) = inputs.iter().chain(&outputs).find(|info| unknown(info)) {
            return Err(request.error(format!(
                "`{}` has the shape {} after resizing the inputs",
                open.name,
                open.shape_text()
            )));
        }
        let output_tensors = output_ports
            .iter()
            .map(|port| HostTensor::like(port.tensor))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| request.error(e))?;

        let mut settings = vec![
            Setting::new("threads", threads),
            Setting::new("precision", modes.computed_precision()),
            Setting::new("precision_mode", modes.precision.1),
            Setting::new("memory_mode", modes.memory.1),
            Setting::new("power_mode", modes.power.1),
        ];
        if let Some(applied) = net.threads() {
            settings.push(Setting::new("thread_number", applied));
        }
        if let Some(mb) = net.memory_mb() {
            settings.push(Setting::new("session_memory_mb", format!("{mb:.1}")));
        }
        settings.push(Setting::new(
            "converted",
            format!(
                "mnnconvert {CONVERTER_VERSION} → {}{}",
                converted.model.display(),
                if converted.conversion.is_some() {
                    ""
                } else {
                    " (cached)"
                }
            ),
        ));
        Ok(Opened {
            session: MnnSession {
                net,
                inputs: input_ports,
                outputs: output_ports,
                output_types: outputs.iter().map(|o| o.element_type).collect(),
                output_tensors,
                settings,
                conversion: converted.conversion,
                profile: Profile::default(),
            },
            inputs,
            outputs,
        })
    }
}

/// The element type of each input and output an ONNX file declares, by name (none for other formats).
fn file_element_types(request: &LoadRequest<'_>) -> Vec<(String, ElementType)> {
    if request.format != ModelFormat::Onnx {
        return Vec::new();
    }
    std::fs::read(request.model)
        .ok()
        .and_then(|bytes| harness_onnx_graph::decode(&bytes).ok())
        .and_then(|model| harness_onnx_graph::inputs_and_outputs(&model).ok())
        .map(|(inputs, outputs)| {
            inputs
                .into_iter()
                .chain(outputs)
                .map(|info| (info.name, info.element_type))
                .collect()
        })
        .unwrap_or_default()
}

/// An input or output as the harness sees it: MNN's shape and type, except that a tensor the file declares
/// int64 stays int64 where MNN's converter made it int32 (the session narrows and widens the values).
fn describe(
    port: &Port,
    what: &str,
    file_types: &[(String, ElementType)],
) -> Result<TensorInfo, String> {
    let mnn_type = net::element_type_of(port.tensor).ok_or_else(|| {
        format!(
            "MNN's {what} `{}` is of a type the harness does not exchange",
            port.name
        )
    })?;
    let file_type = file_types
        .iter()
        .find(|(name, _)| *name == port.name)
        .map(|(_, t)| *t);
    Ok(TensorInfo {
        name: port.name.clone(),
        shape: net::declared_shape(port.tensor),
        element_type: match (mnn_type, file_type) {
            (ElementType::I32, Some(ElementType::I64)) => ElementType::I64,
            _ => mnn_type,
        },
    })
}

/// The backend options, each as MNN's value and the name recorded in the settings.
struct Modes {
    precision: (ffi::PrecisionMode, &'static str),
    memory: (ffi::MemoryMode, &'static str),
    power: (ffi::PowerMode, &'static str),
}

impl Modes {
    fn from_options(request: &LoadRequest<'_>) -> Result<Modes, BackendError> {
        fn pick<T: Copy>(
            request: &LoadRequest<'_>,
            key: &str,
            choices: [(&'static str, T); 3],
        ) -> Result<(T, &'static str), BackendError> {
            let value = request.options.get_str(key).unwrap_or("normal");
            choices
                .into_iter()
                .find(|(name, _)| *name == value)
                .map(|(name, mode)| (mode, name))
                .ok_or_else(|| {
                    request.option_error(format!(
                        "option `{key}` must be normal, low or high, not `{value}`"
                    ))
                })
        }
        use ffi::{MemoryMode as M, PowerMode as W, PrecisionMode as P};
        Ok(Modes {
            precision: pick(
                request,
                "precision",
                [
                    ("normal", P::Precision_Normal),
                    ("low", P::Precision_Low),
                    ("high", P::Precision_High),
                ],
            )?,
            memory: pick(
                request,
                "memory",
                [
                    ("normal", M::Memory_Normal),
                    ("low", M::Memory_Low),
                    ("high", M::Memory_High),
                ],
            )?,
            power: pick(
                request,
                "power",
                [
                    ("normal", W::Power_Normal),
                    ("low", W::Power_Low),
                    ("high", W::Power_High),
                ],
            )?,
        })
    }

    /// What MNN's CPU backend computes in: fp16 only for `precision = "low"` on an ARMv8.2 CPU with fp16
    /// arithmetic (its Arm82 backend, built on aarch64); fp32 otherwise, whatever was asked.
    fn computed_precision(&self) -> &'static str {
        #[cfg(target_arch = "aarch64")]
        if self.precision.1 == "low" && std::arch::is_aarch64_feature_detected!("fp16") {
            return "fp16";
        }
        "fp32"
    }
}

pub struct MnnSession {
    net: Net,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    /// The outputs' types as the harness sees them (see `describe`).
    output_types: Vec<ElementType>,
    /// Where each run's outputs are copied, in the model's declared order.
    output_tensors: Vec<HostTensor>,
    settings: Vec<Setting>,
    conversion: Option<Duration>,
    profile: Profile,
}

impl MnnSession {
    /// Copies the inputs in, runs the network with `run`, and copies the outputs out.
    fn run_with(
        &mut self,
        inputs: &[HostTensor],
        run: impl FnOnce(&Net) -> Result<(), String>,
    ) -> Result<(), BackendError> {
        let run_error = |reason: String| BackendError::run(NAME, reason);
        for (host, port) in inputs.iter().zip(&self.inputs) {
            host.copy_to(port.tensor).map_err(run_error)?;
        }
        run(&self.net).map_err(run_error)?;
        for (host, port) in self.output_tensors.iter_mut().zip(&self.outputs) {
            host.copy_from(port.tensor).map_err(run_error)?;
        }
        Ok(())
    }

    /// A host tensor like `port`'s holding `tensor`'s values.
    fn host_input(port: &Port, tensor: &Tensor) -> Result<HostTensor, String> {
        let mut host = HostTensor::like(port.tensor)?;
        if host.shape() != tensor.shape {
            return Err(format!(
                "input `{}` of shape {:?}; the session was resized to {:?}",
                port.name,
                tensor.shape,
                host.shape()
            ));
        }
        let wanted = host.element_type();
        let bytes = match (&tensor.data, wanted) {
            (data, Some(wanted)) if data.element_type() == wanted => data.as_bytes().to_vec(),
            // MNN's converter made this int64 input int32.
            (TensorData::I64(values), Some(ElementType::I32)) => values
                .iter()
                .map(|&v| {
                    i32::try_from(v).map(i32::to_ne_bytes).map_err(|_| {
                        format!(
                            "input `{}` holds {v}, which MNN's int32 (its int64 stand-in) cannot",
                            port.name
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?
                .concat(),
            (data, _) => {
                return Err(format!(
                    "input `{}` of type {}; MNN's session takes {}",
                    port.name,
                    data.element_type(),
                    wanted.map_or("another type".to_string(), |t| t.to_string())
                ))
            }
        };
        host.bytes_mut().copy_from_slice(&bytes);
        Ok(host)
    }
}

impl EngineSession for MnnSession {
    type Inputs = Vec<HostTensor>;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<Vec<HostTensor>, BackendError> {
        self.inputs
            .iter()
            .zip(&inputs)
            .map(|(port, tensor)| {
                Self::host_input(port, tensor).map_err(|e| BackendError::input(NAME, e))
            })
            .collect()
    }

    fn run(&mut self, inputs: &mut Vec<HostTensor>) -> Result<(), BackendError> {
        self.run_with(inputs, |net| net.run())
    }

    fn run_profiled(&mut self, inputs: &mut Vec<HostTensor>) -> Result<(), BackendError> {
        let mut profile = std::mem::take(&mut self.profile);
        let ran = self.run_with(inputs, |net| net.run_profiled(&mut profile));
        self.profile = profile;
        ran
    }

    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        Ok(std::mem::take(&mut self.profile))
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.output_tensors
            .iter()
            .zip(&self.output_types)
            .map(|(host, wanted)| {
                let data = match (host.data(), wanted) {
                    (Ok(TensorData::I32(values)), ElementType::I64) => {
                        TensorData::I64(values.into_iter().map(i64::from).collect())
                    }
                    (data, _) => data.map_err(|e| BackendError::run(NAME, e))?,
                };
                Tensor::new(host.shape(), data).map_err(|e| BackendError::run(NAME, e))
            })
            .collect()
    }

    fn settings(&self) -> Vec<Setting> {
        self.settings.clone()
    }

    fn conversion_time(&self) -> Option<Duration> {
        self.conversion
    }
}
