//! Threads and memory, each checked in a process of its own (the counts are per process).

use harness_backend_api::{Backend, LoadOptions, ModelFormat, Tensor, TensorData};
use harness_backend_tflite::TfliteBackend;
use std::path::PathBuf;

fn model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/mobilenet_v2/mobilenet_v2.tflite")
}

fn input() -> Tensor {
    let values: Vec<f32> = (0..224 * 224 * 3)
        .map(|i| ((i % 97) as f32) / 97.0 - 0.5)
        .collect();
    Tensor::new(vec![1, 224, 224, 3], TensorData::F32(values)).unwrap()
}

fn status_field(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(name)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One test function, so that no other test's threads or allocations run in this process meanwhile.
#[test]
fn thread_count_reaches_xnnpack_and_resident_memory_stays_flat() {
    let load = |threads| {
        let options = LoadOptions {
            threads,
            ..LoadOptions::default()
        };
        TfliteBackend
            .load(&model(), ModelFormat::Tflite, &options)
            .unwrap()
    };

    // The thread budget is applied: a 3-thread session runs with more OS threads than a 1-thread one.
    let threads_during = |threads| {
        let mut session = load(threads);
        let prepared = session.prepare(vec![input()]).unwrap();
        session.run(prepared).unwrap();
        status_field("Threads:")
    };
    let one = threads_during(1);
    let three = threads_during(3);
    assert!(
        three >= one + 2,
        "1 thread: {one} OS threads; 3 threads: {three}"
    );

    // Thousands of runs, and sessions created and dropped, leave resident memory flat. The allocator settles
    // first (its pools grow to a plateau over the first sessions), then the baseline is taken.
    let mut session = load(2);
    let prepared = session.prepare(vec![input()]).unwrap();
    let cycle = || {
        let mut s = load(1);
        let p = s.prepare(vec![input()]).unwrap();
        s.run(p).unwrap();
        s.last_outputs().unwrap();
    };
    for _ in 0..200 {
        session.run(prepared).unwrap();
    }
    for _ in 0..15 {
        cycle();
    }
    let baseline = status_field("VmRSS:");
    for _ in 0..3000 {
        session.run(prepared).unwrap();
    }
    let after_runs = status_field("VmRSS:");
    for _ in 0..60 {
        cycle();
    }
    let after_sessions = status_field("VmRSS:");
    println!("resident memory: {baseline} kB, after 3000 runs {after_runs} kB, after 60 more sessions {after_sessions} kB");
    // Leaking a few bytes per run, or an input buffer (600 kB) per session, would break these bounds.
    assert!(
        after_runs < baseline + 2 * 1024,
        "3000 runs grew resident memory from {baseline} to {after_runs} kB"
    );
    assert!(
        after_sessions < baseline + 8 * 1024,
        "60 sessions grew resident memory from {baseline} to {after_sessions} kB"
    );
}
