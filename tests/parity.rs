//! The second question: does every engine compute the same answer? On the default model and images.

use harness::analysis::parity::ParityVerdict;
mod common;

use common::{quick_default_scenario, root, run_scenario, worker_processes};
use harness::record::{MeasurementRecord, Status};
use harness::run::isolation::Isolation;
use harness_backend_api::{
    Backend, BackendError, BackendInfo, LoadOptions, ModelFormat, PreparedInput, Profile, Session,
    Setting, Tensor, TensorData, TensorInfo,
};
use std::path::Path;
use std::process::Command;

/// A test double that runs tract but returns a wrong answer: class 0 gets +8 on every output.
struct WrongBackend(Box<dyn Backend>);

struct WrongSession(Box<dyn Session>);

impl Backend for WrongBackend {
    fn name(&self) -> &'static str {
        "wrong"
    }
    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "wrong".into(),
            ..self.0.info()
        }
    }
    fn load(
        &self,
        model: &Path,
        format: ModelFormat,
        options: &LoadOptions,
    ) -> Result<Box<dyn Session>, BackendError> {
        Ok(Box::new(WrongSession(self.0.load(model, format, options)?)))
    }
}

impl Session for WrongSession {
    fn inputs(&self) -> &[TensorInfo] {
        self.0.inputs()
    }
    fn outputs(&self) -> &[TensorInfo] {
        self.0.outputs()
    }
    fn prepare(&mut self, inputs: Vec<Tensor>) -> Result<PreparedInput, BackendError> {
        self.0.prepare(inputs)
    }
    fn refill(&mut self, input: PreparedInput, inputs: Vec<Tensor>) -> Result<(), BackendError> {
        self.0.refill(input, inputs)
    }
    fn run(&mut self, input: PreparedInput) -> Result<(), BackendError> {
        self.0.run(input)
    }
    fn last_outputs(&self) -> Result<Vec<Tensor>, BackendError> {
        let mut outputs = self.0.last_outputs()?;
        if let TensorData::F32(values) = &mut outputs[0].data {
            values[0] += 8.0;
        }
        Ok(outputs)
    }
    fn settings(&self) -> Vec<Setting> {
        self.0.settings()
    }
    fn run_profiled(&mut self, input: PreparedInput) -> Result<(), BackendError> {
        self.0.run_profiled(input)
    }
    fn take_profile(&mut self) -> Result<Profile, BackendError> {
        self.0.take_profile()
    }
}

/// Runs a scenario; test doubles exist only in this process, so they run in process.
fn run(
    path: &Path,
    backends: Vec<Box<dyn Backend>>,
    isolation: Isolation,
) -> Vec<MeasurementRecord> {
    run_scenario(path, &backends, &isolation).records
}

fn find<'a>(
    records: &'a [MeasurementRecord],
    backend: &str,
    format: ModelFormat,
) -> &'a MeasurementRecord {
    records
        .iter()
        .find(|r| r.plan.backend == backend && r.plan.format == format)
        .unwrap()
}

/// The reference top-1 per image, from models/mobilenet_v2/reference_top5.jsonl.
fn reference_top1() -> Vec<(String, usize)> {
    std::fs::read_to_string(root().join("models/mobilenet_v2/reference_top5.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["image"].as_str().unwrap().to_string(),
                v["onnx_top5"][0].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

fn assert_reference_top1(record: &MeasurementRecord) {
    assert_eq!(record.status, Status::Ok, "{:?}", record.error);
    let expected = reference_top1();
    assert_eq!(expected.len(), 6);
    assert_eq!(record.outputs.len(), 6);
    // Images are read in file-name order, as the reference file lists them.
    for ((image, class), outputs) in expected.iter().zip(&record.outputs) {
        let top = harness::analysis::parity::top_k(&outputs[0].data.to_f32(), 1)[0];
        assert_eq!(top, *class, "{} {image}", record.plan.backend);
    }
}

#[test]
fn onnx_runtime_is_the_reference_the_others_agree_and_tract_tflite_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_default_scenario(dir.path(), None, "", "");
    let records = run(&path, harness::backends::compiled_in(), worker_processes());

    let ort = find(&records, "ort", ModelFormat::Onnx);
    assert_reference_top1(ort);
    assert_eq!(
        ort.parity.as_ref().unwrap().verdict,
        ParityVerdict::Reference
    );
    assert_eq!(ort.parity.as_ref().unwrap().reference, "ort onnx 1 thread");

    // ONNX Runtime and tract agree on the ONNX file: top-1 on all six images, cosine at least 0.999.
    let onnx = find(&records, "tract", ModelFormat::Onnx);
    assert_reference_top1(onnx);
    let parity = onnx.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);
    let agreement = parity.agreement.as_ref().unwrap();
    assert_eq!(agreement.top1_agree, Some(6));
    assert!(agreement.min_cosine >= 0.999, "{}", agreement.min_cosine);

    // OpenVINO agrees on both files, computing in f32.
    for format in [ModelFormat::Onnx, ModelFormat::Tflite] {
        let openvino = find(&records, "openvino", format);
        assert_reference_top1(openvino);
        let parity = openvino.parity.as_ref().unwrap();
        assert_eq!(
            parity.verdict,
            ParityVerdict::Pass,
            "{format}: {:?}",
            parity.reasons
        );
        assert!(parity.agreement.as_ref().unwrap().min_cosine >= 0.999);
        assert_eq!(openvino.setting("precision"), Some("f32"));
    }

    // NCNN, on pnnx's conversion of the ONNX file, agrees in fp32.
    let ncnn = find(&records, "ncnn", ModelFormat::Onnx);
    assert_reference_top1(ncnn);
    let parity = ncnn.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);
    assert!(parity.agreement.as_ref().unwrap().min_cosine >= 0.999);
    assert_eq!(ncnn.setting("precision"), Some("fp32"));
    assert_eq!(ncnn.setting("use_fp16_storage"), Some("0"));

    // MNN, on mnnconvert's conversion of the ONNX file, agrees in fp32.
    let mnn = find(&records, "mnn", ModelFormat::Onnx);
    assert_reference_top1(mnn);
    let parity = mnn.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);
    assert!(parity.agreement.as_ref().unwrap().min_cosine >= 0.999);
    assert_eq!(mnn.setting("precision"), Some("fp32"));
    assert_eq!(mnn.setting("thread_number"), Some("1"));

    // candle, running the ONNX graph as its own plan of candle operations, agrees as closely.
    let candle = find(&records, "candle", ModelFormat::Onnx);
    assert_reference_top1(candle);
    let parity = candle.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);
    let agreement = parity.agreement.as_ref().unwrap();
    assert_eq!(agreement.top1_agree, Some(6));
    assert!(agreement.min_cosine >= 0.999, "{}", agreement.min_cosine);

    // OpenCV 4.6 runs the ONNX file after the in-memory Clip rewrite, says so, and agrees.
    let opencv = find(&records, "opencv", ModelFormat::Onnx);
    assert_reference_top1(opencv);
    let parity = opencv.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);
    assert!(
        opencv.setting("model_adaptation").is_some(),
        "{:?}",
        opencv.settings
    );

    // LiteRT runs the same network from the TFLite file and agrees with ONNX Runtime.
    let litert = find(&records, "tflite", ModelFormat::Tflite);
    assert_reference_top1(litert);
    let parity = litert.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);
    assert!(parity.agreement.as_ref().unwrap().min_cosine >= 0.999);
    assert!(litert
        .settings
        .iter()
        .any(|s| s.key == "delegate" && s.value == "xnnpack"));

    // tract's TFLite path keeps the top-1 but its logits drift (cosine about 0.98): with the float
    // thresholds it must fail, with its figures shown.
    let tflite = find(&records, "tract", ModelFormat::Tflite);
    let parity = tflite.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Fail);
    let agreement = parity.agreement.as_ref().unwrap();
    assert_eq!(agreement.top1_agree, Some(6));
    assert!(
        agreement.min_cosine < 0.999 && agreement.min_cosine > 0.95,
        "{}",
        agreement.min_cosine
    );
    assert!(agreement.max_abs_diff > 0.5, "{}", agreement.max_abs_diff);
    assert!(
        parity.reasons[0].contains("below 0.999"),
        "{:?}",
        parity.reasons
    );

    // The predictions file names the images and the labels.
    let folder = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let predictions = std::fs::read_to_string(folder.join("predictions.csv")).unwrap();
    assert!(
        predictions.contains("tract,onnx,1,inference,0,grace_hopper.jpg,1,652,military uniform,"),
        "{predictions}"
    );
    let summary = std::fs::read_to_string(folder.join("summary.csv")).unwrap();
    assert!(summary.contains(",fail,ort onnx 1 thread,"), "{summary}");
}

#[test]
fn a_wrong_backend_is_caught_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_default_scenario(dir.path(), None, "[backends.wrong]\n", "");
    let mut backends = harness::backends::compiled_in();
    let tract = harness::backends::compiled_in().remove(0);
    backends.push(Box::new(WrongBackend(tract)));
    let records = run(&path, backends, Isolation::InProcess);
    let wrong = find(&records, "wrong", ModelFormat::Onnx);
    assert_eq!(
        wrong.status,
        Status::Ok,
        "it runs fine; only its answers are wrong"
    );
    let parity = wrong.parity.as_ref().unwrap();
    assert_eq!(parity.verdict, ParityVerdict::Fail);
    assert_eq!(parity.reference, "ort onnx 1 thread");
    let agreement = parity.agreement.as_ref().unwrap();
    assert!(
        (agreement.max_abs_diff - 8.0).abs() < 1e-3,
        "{}",
        agreement.max_abs_diff
    );
    let table = harness::export::table::render(&records);
    assert!(
        table.contains("= mobilenet_v2 wrong onnx threads=1: parity fail"),
        "{table}"
    );
}

#[test]
fn a_labels_file_that_does_not_match_the_classes_is_refused_by_check_with_both_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = quick_default_scenario(dir.path(), None, "", "");
    let labels = dir.path().join("labels.txt");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &root()
            .join("models/imagenet_labels.txt")
            .display()
            .to_string(),
        &labels.display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    for lines in [10, 0] {
        std::fs::write(&labels, "class\n".repeat(lines)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_harness"))
            .arg("check")
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{lines} lines");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "the labels file {} has {lines} lines, but the output `logits`",
                labels.display()
            )) && stderr.contains("has 1000 classes"),
            "{stderr}"
        );
    }
}

#[test]
fn an_unreadable_image_is_named_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let path = quick_default_scenario(dir.path(), None, "", "");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        &root().join("models/images").display().to_string(),
        &images.display().to_string(),
    );
    std::fs::write(&path, text).unwrap();

    let check = || {
        Command::new(env!("CARGO_BIN_EXE_harness"))
            .arg("check")
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = check();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "the image folder {} holds no JPEG, PNG or BMP file",
            images.display()
        )),
        "{stderr}"
    );

    std::fs::write(images.join("truncated.png"), &b"\x89PNG\r\n\x1a\n"[..]).unwrap();
    let out = check();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the image") && stderr.contains("truncated.png"),
        "{stderr}"
    );
}

#[test]
fn openvino_bf16_and_ncnn_fp16_are_labelled_and_judged_with_the_reduced_precision_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    // OpenVINO in f32 is the reference; bf16 and NCNN's fp16 beside it. A float threshold so tight that
    // neither can meet it (fp16 storage alone costs NCNN about 1e-8 of cosine here), the default
    // reduced-precision one (0.98) that both can.
    let tables = "[backends.openvino]\n\n[backends.openvino-bf16]\nengine = \"openvino\"\noptions = { precision = \"bf16\" }\n\n[backends.ncnn-fp16]\nengine = \"ncnn\"\noptions = { precision = \"fp16\" }\n\n[parity]\nmin_cosine = 0.9999999999\n";
    let path = quick_default_scenario(dir.path(), Some(tables), "", "");
    let records = run(&path, harness::backends::compiled_in(), worker_processes());
    let f32_row = find(&records, "openvino", ModelFormat::Onnx);
    assert_eq!(
        f32_row.setting("precision"),
        Some("f32"),
        "{:?}",
        f32_row.settings
    );
    assert_reference_top1(f32_row);

    let bf16 = find(&records, "openvino-bf16", ModelFormat::Onnx);
    let parity = bf16.parity.as_ref().unwrap();
    let agreement = parity.agreement.as_ref().unwrap();
    let capabilities = harness_backend_openvino::cpu_capabilities().unwrap();
    if capabilities.iter().any(|c| c == "BF16") {
        // Labelled with the precision OpenVINO reports it compiled for, which marks the row reduced-precision.
        assert_eq!(
            bf16.setting("precision"),
            Some("bf16"),
            "{:?}",
            bf16.settings
        );
        assert!(bf16.reduced_precision());
        assert!(
            agreement.min_cosine < 0.9999999999,
            "bf16 really differs: {}",
            agreement.min_cosine
        );
    } else {
        // A CPU without bf16 (AVX2 only): OpenVINO compiles f32, and the row says so rather than claim bf16.
        assert_eq!(
            (
                bf16.setting("precision"),
                bf16.setting("requested_precision")
            ),
            (Some("f32"), Some("bf16")),
            "{capabilities:?}: {:?}",
            bf16.settings
        );
        assert!(!bf16.reduced_precision());
    }
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);

    let fp16 = find(&records, "ncnn-fp16", ModelFormat::Onnx);
    assert_eq!(
        fp16.setting("precision"),
        Some("fp16"),
        "{:?}",
        fp16.settings
    );
    assert_eq!(fp16.setting("use_fp16_storage"), Some("1"));
    assert!(fp16.reduced_precision());
    let parity = fp16.parity.as_ref().unwrap();
    assert!(parity.agreement.as_ref().unwrap().min_cosine < 0.9999999999);
    assert_eq!(parity.verdict, ParityVerdict::Pass, "{:?}", parity.reasons);
}
