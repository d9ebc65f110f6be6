//! OpenCV's DNN module, from the system's OpenCV (Debian 12: 4.6.0), on its own CPU backend.
//!
//! The network is read and configured once; its first forward pass (where OpenCV allocates and initialises
//! its layers) is the harness's first run. OpenCV before 4.8 has no TFLite importer and takes `Clip` only in
//! its opset < 11 attribute form: ONNX files with ReLU6 exported as `Clip` with bound inputs are rewritten in
//! memory (see `harness_onnx_graph::rewrite`), and the rows say so.

use harness_backend_api::{
    declared_formats, BackendError, ElementType, Engine, EngineSession, LoadRequest, ModelFormat,
    Opened, Profile, Profiling, Setting, Tensor, TensorData, TensorInfo,
};
use harness_onnx_graph::rewrite::clip_bounds_to_attributes;
use opencv::core::{self, Mat, Scalar, Vector};
use opencv::dnn;
use opencv::prelude::*;

const NAME: &str = "opencv";
/// OpenCV reads `.tflite` from this release on; older ones also need the `Clip` rewrite.
const TFLITE_SINCE: (i32, i32) = (4, 8);

fn version() -> (i32, i32) {
    (core::get_version_major(), core::get_version_minor())
}

fn version_text() -> String {
    core::get_version_string().unwrap_or_else(|_| "unknown".into())
}

fn cv_error(e: opencv::Error) -> String {
    e.message
}

pub struct OpencvBackend;

impl Engine for OpencvBackend {
    const NAME: &'static str = NAME;
    const THREADS_NOTE: &'static str =
        "cv::setNumThreads(N): OpenCV's own parallel framework runs each \
layer on N threads; the setting is process-wide, applied when the model is loaded.";
    /// `Net::getPerfProfile`: each layer's ticks in the last forward pass (0 for a layer fused into another).
    const PROFILING: Profiling = Profiling::Supported;
    type Session = OpencvSession;

    /// ONNX always; TFLite from OpenCV 4.8 on.
    fn formats(&self) -> Vec<ModelFormat> {
        let mut formats = declared_formats(NAME);
        if version() >= TFLITE_SINCE {
            formats.push(ModelFormat::Tflite);
        }
        formats
    }

    fn unread_format_hint(&self, _format: ModelFormat) -> Option<String> {
        Some(format!(
            "in this build: OpenCV {} has no TFLite importer (it arrived in 4.8); build against OpenCV 4.8 or \
             newer to read .tflite files",
            version_text()
        ))
    }

    fn version(&self) -> String {
        format!("OpenCV {}", version_text())
    }

    fn runtime(&self) -> Result<String, String> {
        Ok(runtime_text())
    }

    fn open(&self, request: &LoadRequest<'_>) -> Result<Opened<OpencvSession>, BackendError> {
        let load_error = |reason: String| request.error(reason);
        let (net, inputs, outputs, adaptation) = match request.format {
            ModelFormat::Onnx => read_onnx(request)?,
            ModelFormat::Tflite => {
                let net = dnn::read_net(&request.model.to_string_lossy(), "", "tflite")
                    .map_err(|e| load_error(cv_error(e)))?;
                // OpenCV takes NCHW blobs whatever the file's layout; shapes are left open for the adapter.
                let open = |name: String| TensorInfo {
                    name,
                    shape: vec![None; 4],
                    element_type: ElementType::F32,
                };
                let outputs = output_layer_names(&net)
                    .map_err(load_error)?
                    .into_iter()
                    .map(open)
                    .collect();
                (net, vec![open(String::new())], outputs, None)
            }
        };
        let session = OpencvSession::configure(net, &inputs, &outputs, adaptation, request.threads)
            .map_err(load_error)?;
        Ok(Opened {
            session,
            inputs,
            outputs,
        })
    }
}

/// The installed OpenCV and the DNN backends it was built with (OpenVINO's only when OpenCV was built with it).
fn runtime_text() -> String {
    let backends = dnn::get_available_backends()
        .map(|pairs| {
            let mut names: Vec<&str> = pairs
                .iter()
                .map(|pair| match pair.into_tuple().0 {
                    dnn::Backend::DNN_BACKEND_OPENCV => "OpenCV",
                    dnn::Backend::DNN_BACKEND_INFERENCE_ENGINE => "OpenVINO",
                    dnn::Backend::DNN_BACKEND_HALIDE => "Halide",
                    dnn::Backend::DNN_BACKEND_VKCOM => "Vulkan",
                    dnn::Backend::DNN_BACKEND_CUDA => "CUDA",
                    dnn::Backend::DNN_BACKEND_TIMVX => "TIM-VX",
                    dnn::Backend::DNN_BACKEND_WEBNN => "WebNN",
                    dnn::Backend::DNN_BACKEND_DEFAULT => "default",
                })
                .collect();
            names.dedup();
            names.join(", ")
        })
        .unwrap_or_default();
    let openvino = if backends.contains("OpenVINO") {
        "OpenVINO available as a DNN backend"
    } else {
        "this OpenCV was built without OpenVINO, so its DNN module cannot use it"
    };
    format!(
        "system OpenCV {} (DNN backends: {backends}; {openvino})",
        version_text()
    )
}

type Loaded = (dnn::Net, Vec<TensorInfo>, Vec<TensorInfo>, Option<String>);

/// Reads an ONNX file, rewriting `Clip` bounds first when this OpenCV needs it.
fn read_onnx(request: &LoadRequest<'_>) -> Result<Loaded, BackendError> {
    let path = request.model;
    let load_error = |reason: String| request.error(reason);
    let bytes = std::fs::read(path).map_err(|e| load_error(e.to_string()))?;
    let model = harness_onnx_graph::decode(&bytes).map_err(load_error)?;
    let (inputs, outputs) = harness_onnx_graph::inputs_and_outputs(&model).map_err(load_error)?;
    if let Some(input) = inputs.iter().find(|i| i.element_type != ElementType::F32) {
        return Err(BackendError::unsupported(
            NAME,
            format!(
                "input `{}` of type {} (OpenCV's DNN blobs here are f32)",
                input.name, input.element_type
            ),
        ));
    }
    // OpenCV takes each run's shapes from the blobs; binding here checks the scenario's shapes.
    let inputs = request.bound_inputs(&inputs)?;
    let read = |bytes: &[u8]| {
        dnn::read_net_from_onnx_buffer(&Vector::<u8>::from_slice(bytes)).map_err(cv_error)
    };
    if version() >= TFLITE_SINCE {
        let net = read(&bytes).map_err(load_error)?;
        return Ok((net, inputs, outputs, None));
    }
    match clip_bounds_to_attributes(&model) {
        Ok(None) => Ok((read(&bytes).map_err(load_error)?, inputs, outputs, None)),
        Ok(Some(rewritten)) => {
            let net = read(&harness_onnx_graph::encode(&rewritten.model)).map_err(load_error)?;
            Ok((net, inputs, outputs, Some(rewritten.description)))
        }
        // The rewrite does not apply: the file goes to OpenCV as it is, and OpenCV's own verdict stands.
        Err(why) => match read(&bytes) {
            Ok(net) => Ok((net, inputs, outputs, None)),
            Err(message) => Err(BackendError::unsupported(
                NAME,
                format!(
                    "{} as it is (OpenCV {}: {message}); it could not be adapted: {why}",
                    path.display(),
                    version_text()
                ),
            )),
        },
    }
}

fn output_layer_names(net: &dnn::Net) -> Result<Vec<String>, String> {
    net.get_unconnected_out_layers_names()
        .map(|names| names.iter().collect())
        .map_err(cv_error)
}

pub struct OpencvSession {
    net: dnn::Net,
    /// The names of the model's inputs, in order, which each run sets.
    input_names: Vec<String>,
    output_layers: Vector<String>,
    last: Vector<Mat>,
    settings: Vec<Setting>,
    /// Each layer's name and type in id order, read at the first profiled run.
    layers: Vec<(String, String)>,
    profile: Profile,
}

impl OpencvSession {
    fn configure(
        mut net: dnn::Net,
        inputs: &[TensorInfo],
        outputs: &[TensorInfo],
        adaptation: Option<String>,
        threads: usize,
    ) -> Result<OpencvSession, String> {
        net.set_preferable_backend(dnn::DNN_BACKEND_OPENCV)
            .map_err(cv_error)?;
        net.set_preferable_target(dnn::DNN_TARGET_CPU)
            .map_err(cv_error)?;
        core::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX)).map_err(cv_error)?;
        let names = output_layer_names(&net)?;
        if names.len() != outputs.len() {
            return Err(format!(
                "OpenCV sees {} outputs, the file declares {}",
                names.len(),
                outputs.len()
            ));
        }
        // OpenCV lists its output layers in its own order; they are asked for in the file's declared order.
        let declared_order = outputs.iter().all(|o| names.contains(&o.name));
        let output_layers: Vector<String> = if declared_order {
            outputs.iter().map(|o| o.name.as_str()).collect()
        } else {
            names.iter().map(String::as_str).collect()
        };
        let settings = vec![
            Setting::new("threads", core::get_num_threads().map_err(cv_error)?),
            Setting::new("dnn_backend", "opencv"),
            Setting::new("target", "cpu"),
            Setting::new("model_adaptation", adaptation.as_deref().unwrap_or("none")),
        ];
        Ok(OpencvSession {
            net,
            input_names: inputs.iter().map(|i| i.name.clone()).collect(),
            output_layers,
            last: Vector::new(),
            settings,
            layers: Vec::new(),
            profile: Profile::default(),
        })
    }

    fn error(&self, reason: String) -> BackendError {
        BackendError::run(NAME, reason)
    }

    /// An f32 blob holding one input tensor (NCHW for images).
    fn blob(&self, tensor: &Tensor) -> Result<Mat, BackendError> {
        let TensorData::F32(values) = &tensor.data else {
            return Err(BackendError::unsupported(
                NAME,
                format!(
                    "{} inputs (OpenCV's DNN blobs here are f32)",
                    tensor.element_type()
                ),
            ));
        };
        let sizes: Vec<i32> = tensor.shape.iter().map(|&d| d as i32).collect();
        Mat::new_nd_with_default(&sizes, core::CV_32F, Scalar::all(0.0))
            .and_then(|mut blob| {
                blob.data_typed_mut::<f32>()?.copy_from_slice(values);
                Ok(blob)
            })
            .map_err(|e| self.error(cv_error(e)))
    }
}

impl EngineSession for OpencvSession {
    type Inputs = Vec<Mat>;

    fn convert(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Mat>, BackendError> {
        inputs.iter().map(|tensor| self.blob(tensor)).collect()
    }

    fn run(&mut self, blobs: &mut Vec<Mat>) -> Result<(), BackendError> {
        // OpenCV copies the blobs into the network on set_input: part of using it, so part of the timing.
        for (blob, name) in blobs.iter().zip(&self.input_names) {
            self.net
                .set_input(blob, name, 1.0, Scalar::default())
                .map_err(|e| BackendError::run(NAME, cv_error(e)))?;
        }
        self.net
            .forward(&mut self.last, &self.output_layers)
            .map_err(|e| BackendError::run(NAME, cv_error(e)))
    }

    fn run_profiled(&mut self, blobs: &mut Vec<Mat>) -> Result<(), BackendError> {
        self.run(blobs)?;
        let failed = |e| BackendError::run(NAME, cv_error(e));
        if self.layers.is_empty() {
            // Layer ids count from 1 (0 is the input layer); names and timings leave the input layer out.
            let names = self.net.get_layer_names().map_err(failed)?;
            for (id, name) in (1..).zip(names.iter()) {
                let op_type = self.net.get_layer(id).map_err(failed)?.typ();
                self.layers.push((name, op_type));
            }
        }
        let ticks_per_us = core::get_tick_frequency().map_err(failed)? / 1e6;
        let mut timings = Vector::<f64>::new();
        self.net.get_perf_profile(&mut timings).map_err(failed)?;
        for ((name, op_type), ticks) in self.layers.iter().zip(timings.iter()) {
            self.profile
                .add_micros(name, op_type, 1, ticks / ticks_per_us);
        }
        Ok(())
    }

    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        Ok(std::mem::take(&mut self.profile))
    }

    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        self.last
            .iter()
            .map(|mat| {
                let shape: Vec<usize> = mat.mat_size().iter().map(|&d| d as usize).collect();
                let values = mat
                    .data_typed::<f32>()
                    .map_err(|e| self.error(cv_error(e)))?
                    .to_vec();
                Ok(Tensor {
                    shape,
                    data: TensorData::F32(values),
                })
            })
            .collect()
    }

    fn settings(&self) -> Vec<Setting> {
        self.settings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::{Backend, LoadOptions};
    use harness_onnx_graph::pb;
    use std::path::{Path, PathBuf};

    fn models() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/mobilenet_v2")
    }

    fn options() -> LoadOptions {
        LoadOptions {
            threads: 1,
            ..LoadOptions::default()
        }
    }

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("harness-opencv-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn mobilenet_loads_adapted_and_the_rows_say_how() {
        let session = OpencvBackend
            .load(
                &models().join("mobilenet_v2.onnx"),
                ModelFormat::Onnx,
                &options(),
            )
            .unwrap();
        assert_eq!(
            session.inputs()[0].to_string(),
            "input f32 [1, 3, 224, 224]"
        );
        let adaptation = session
            .settings()
            .into_iter()
            .find(|s| s.key == "model_adaptation")
            .unwrap();
        if version() < TFLITE_SINCE {
            assert!(
                adaptation.value.starts_with("35 Clip nodes"),
                "{}",
                adaptation.value
            );
        } else {
            assert_eq!(adaptation.value, "none");
        }
    }

    #[test]
    fn tflite_on_an_old_opencv_is_reported_unsupported() {
        if version() >= TFLITE_SINCE {
            assert!(OpencvBackend.reads(ModelFormat::Tflite));
            return;
        }
        assert!(!OpencvBackend.info().formats.contains(&ModelFormat::Tflite));
        let err = OpencvBackend
            .load(
                &models().join("mobilenet_v2.tflite"),
                ModelFormat::Tflite,
                &options(),
            )
            .err()
            .unwrap();
        assert!(matches!(err, BackendError::Unsupported { .. }));
        assert!(
            err.to_string()
                .contains("has no TFLite importer (it arrived in 4.8)"),
            "{err}"
        );
    }

    #[test]
    fn a_clip_with_a_computed_bound_is_refused_with_opencvs_message() {
        if version() >= TFLITE_SINCE {
            return; // Newer OpenCV reads bound inputs itself; nothing is rewritten.
        }
        // MobileNetV2 with the first ReLU6's upper bound computed at run time (max + 0) instead of a constant.
        let mut model =
            harness_onnx_graph::decode(&std::fs::read(models().join("mobilenet_v2.onnx")).unwrap())
                .unwrap();
        let graph = model.graph.as_mut().unwrap();
        let clip = graph.node.iter().position(|n| n.op_type == "Clip").unwrap();
        let bound = graph.node[clip].input[2].clone();
        graph.node[clip].input[2] = "computed_max".into();
        graph.node.insert(
            clip,
            pb::NodeProto {
                op_type: "Add".into(),
                name: "compute_max".into(),
                input: vec![bound.clone(), bound],
                output: vec!["computed_max".into()],
                ..Default::default()
            },
        );
        let path = temp_file("computed.onnx", &harness_onnx_graph::encode(&model));
        let err = OpencvBackend
            .load(&path, ModelFormat::Onnx, &options())
            .err()
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(err, BackendError::Unsupported { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("OpenCV 4.6.0: "),
            "OpenCV's own message is kept: {text}"
        );
        assert!(
            text.contains("from `computed_max`, which is not a constant scalar"),
            "{text}"
        );
    }

    #[test]
    fn a_corrupt_file_names_the_path() {
        let path = temp_file("corrupt.onnx", b"\x08\x07garbage");
        let err = OpencvBackend
            .load(&path, ModelFormat::Onnx, &options())
            .err()
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            err.to_string()
                .starts_with(&format!("opencv could not load {}", path.display())),
            "{err}"
        );
    }
}
