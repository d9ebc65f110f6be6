//! The scenario parser and the model-inspection path never panic on arbitrary input: they answer with an error.
//! CI runs a short pass; `PROPTEST_CASES=100000 cargo test --test fuzz --release` runs a long one.

use harness::scenario;
use proptest::prelude::*;
use std::path::Path;

const VALID: &str = include_str!("../scenarios/mobilenet.toml");

fn parse(text: String) {
    // Any outcome but a panic is fine; errors must still name the file.
    if let Err(e) = scenario::parse(
        Path::new("/fuzz/scenario.toml"),
        text,
        &harness::backends::infos(&harness::backends::compiled_in()),
    ) {
        assert!(e.to_string().starts_with("/fuzz/scenario.toml"), "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn arbitrary_text_never_panics_the_scenario_parser(text in "\\PC*") {
        parse(text);
    }

    #[test]
    fn a_valid_scenario_cut_or_corrupted_anywhere_gives_an_error_not_a_panic(
        cut in 0..VALID.len(),
        at in 0..VALID.len(),
        junk in "[\\[\\]={}\"',.#\n a-z0-9]{0,12}",
    ) {
        let mut text: String = VALID.chars().take(cut).collect();
        let at = at.min(text.len());
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.insert_str(at, &junk);
        parse(text);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_onnx_reader(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(model) = harness_onnx_graph::decode(&bytes) {
            let _ = harness_onnx_graph::inputs_and_outputs(&model);
            let _ = harness_onnx_graph::rewrite::clip_bounds_to_attributes(&model);
        }
    }
}
