//! Does every engine compute the same answer? Each measurement's outputs are compared, input by input,
//! with a reference engine's outputs on the same input tensors.

use harness_backend_api::{ElementKind, ModelFormat, Tensor};
use serde::{Deserialize, Serialize};

/// Which backend and format is the reference, and how close the others must come.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParityRules {
    /// Default: ONNX Runtime on the ONNX file when the scenario runs it, else the first backend that runs
    /// the ONNX file, else the first measurement.
    pub reference: Option<ReferenceChoice>,
    /// Float rows: the lowest cosine similarity of outputs allowed, over all inputs.
    pub min_cosine: f64,
    /// Float rows: the share of inputs whose top-1 class must equal the reference's (classifiers).
    pub min_top1_agreement: f64,
    /// The same for quantised or reduced-precision rows (int8 inputs, fp16, bf16).
    pub reduced_min_cosine: f64,
    pub reduced_min_top1_agreement: f64,
    /// Float rows also pass when every element is close: |a − b| ≤ atol × max(1, the reference output's
    /// largest magnitude) + rtol × |b|. Outputs that are almost all near zero, where cosine says little,
    /// pass this way.
    pub atol: f64,
    pub rtol: f64,
    /// The same for reduced-precision rows.
    pub reduced_atol: f64,
    pub reduced_rtol: f64,
}

/// How close each float element must be: see [`ParityRules::atol`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl Default for ParityRules {
    fn default() -> Self {
        ParityRules {
            reference: None,
            min_cosine: 0.999,
            min_top1_agreement: 1.0,
            reduced_min_cosine: 0.98,
            reduced_min_top1_agreement: 0.8,
            atol: 1e-4,
            rtol: 1e-3,
            reduced_atol: 1e-2,
            reduced_rtol: 1e-2,
        }
    }
}

impl ParityRules {
    /// Checks the rules; on failure returns the offending field and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let shares = [
            ("min_cosine", self.min_cosine),
            ("min_top1_agreement", self.min_top1_agreement),
            ("reduced_min_cosine", self.reduced_min_cosine),
            (
                "reduced_min_top1_agreement",
                self.reduced_min_top1_agreement,
            ),
        ];
        if let Some((field, value)) = shares.iter().find(|(_, v)| !(0.0..=1.0).contains(v)) {
            return Err((field, format!("must be between 0 and 1, not {value}")));
        }
        let tolerances = [
            ("atol", self.atol),
            ("rtol", self.rtol),
            ("reduced_atol", self.reduced_atol),
            ("reduced_rtol", self.reduced_rtol),
        ];
        match tolerances
            .iter()
            .find(|(_, v)| !(v.is_finite() && *v >= 0.0))
        {
            Some((field, value)) => Err((field, format!("must be 0 or more, not {value}"))),
            None => Ok(()),
        }
    }

    /// The element tolerance for float rows, or for reduced-precision ones.
    pub fn tolerance(&self, reduced: bool) -> Tolerance {
        if reduced {
            Tolerance {
                atol: self.reduced_atol,
                rtol: self.reduced_rtol,
            }
        } else {
            Tolerance {
                atol: self.atol,
                rtol: self.rtol,
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceChoice {
    pub backend: String,
    pub format: ModelFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParityVerdict {
    /// This row is the reference itself (same backend, format and thread count as the reference pass).
    Reference,
    Pass,
    Fail,
    /// No comparison was possible (the reference could not run); the reasons say why.
    Unchecked,
}

impl ParityVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ParityVerdict::Reference => "reference",
            ParityVerdict::Pass => "pass",
            ParityVerdict::Fail => "fail",
            ParityVerdict::Unchecked => "unchecked",
        }
    }
}

/// How one measurement's outputs compare with the reference's, over every input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub max_abs_diff: f64,
    /// The largest |difference| divided by the reference's largest magnitude (stable near zero values).
    pub max_rel_diff: f64,
    /// The lowest cosine similarity of the outputs over the inputs.
    pub min_cosine: f64,
    /// Inputs whose top-1 (top-5 set) equals the reference's, for classifiers.
    pub top1_agree: Option<usize>,
    pub top5_agree: Option<usize>,
    pub inputs: usize,
    /// Elements of float outputs outside the tolerance, of how many.
    #[serde(default)]
    pub not_close: usize,
    #[serde(default)]
    pub float_elements: usize,
    /// Elements of integer and boolean outputs (ids, indices, masks) that differ: compared exactly.
    #[serde(default)]
    pub integer_mismatches: usize,
    #[serde(default)]
    pub integer_elements: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parity {
    /// e.g. `tract onnx 1 thread`.
    pub reference: String,
    pub verdict: ParityVerdict,
    /// None when the outputs could not be compared at all (see reasons).
    pub agreement: Option<Agreement>,
    pub reasons: Vec<String>,
}

/// What the reference pass produced for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceOutputs {
    /// e.g. `tract onnx 1 thread`.
    pub label: String,
    /// The outputs per input, or why the reference could not run.
    pub outputs: Result<Vec<Vec<Tensor>>, String>,
    /// The outputs' names, in the order of each input's outputs.
    pub names: Vec<String>,
}

/// The parity of one measurement: compared with the reference, judged, with the figures kept.
pub fn check(
    (outputs, names): (&[Vec<Tensor>], &[String]),
    reference: &ReferenceOutputs,
    is_reference: bool,
    reduced_precision: bool,
    classifier: bool,
    rules: &ParityRules,
) -> Parity {
    let unchecked = |reason: String| Parity {
        reference: reference.label.clone(),
        verdict: ParityVerdict::Unchecked,
        agreement: None,
        reasons: vec![reason],
    };
    let expected = match &reference.outputs {
        Ok(expected) => expected,
        Err(why) => {
            return unchecked(format!(
                "the reference ({}) could not run: {why}",
                reference.label
            ))
        }
    };
    let (paired, note) = pair_by_name((outputs, names), &reference.names);
    let tolerance = rules.tolerance(reduced_precision);
    let agreement = match compare(&paired, expected, classifier, tolerance) {
        Ok(agreement) => agreement,
        Err(why) => {
            return Parity {
                reference: reference.label.clone(),
                verdict: ParityVerdict::Fail,
                agreement: None,
                reasons: vec![why].into_iter().chain(note).collect(),
            }
        }
    };
    let (verdict, mut reasons) = judge(&agreement, rules, reduced_precision);
    reasons.extend(note);
    Parity {
        reference: reference.label.clone(),
        // The reference's own measurement is still compared: a run that differs from the reference pass
        // (same engine, same settings) fails like any other.
        verdict: if is_reference && verdict == ParityVerdict::Pass {
            ParityVerdict::Reference
        } else {
            verdict
        },
        agreement: Some(agreement),
        reasons,
    }
}

/// `outputs` in the order of the reference's outputs: by name when both name the same outputs, otherwise (two
/// files of one network whose outputs are named differently, as ONNX and TFLite files often are) by declared
/// position, with a note that says so.
fn pair_by_name(
    (outputs, names): (&[Vec<Tensor>], &[String]),
    reference_names: &[String],
) -> (Vec<Vec<Tensor>>, Option<String>) {
    if names == reference_names || names.is_empty() || reference_names.is_empty() {
        return (outputs.to_vec(), None);
    }
    let positions: Option<Vec<usize>> = reference_names
        .iter()
        .map(|wanted| names.iter().position(|name| name == wanted))
        .collect();
    match positions {
        Some(positions) if names.len() == reference_names.len() => {
            let reordered = outputs
                .iter()
                .map(|set| {
                    positions
                        .iter()
                        .filter_map(|&p| set.get(p).cloned())
                        .collect()
                })
                .collect();
            (reordered, None)
        }
        _ => (
            outputs.to_vec(),
            Some(format!(
                "outputs paired by declared position: named {} here, {} in the reference",
                names.join(", "),
                reference_names.join(", ")
            )),
        ),
    }
}

/// Compares `outputs` with `reference`, input by input and output by output (in the file's declared order,
/// which every backend returns). Integer and boolean outputs are compared exactly, float ones by their
/// differences, cosine, the element `tolerance`, and for a classifier's first output its top classes.
pub fn compare(
    outputs: &[Vec<Tensor>],
    reference: &[Vec<Tensor>],
    classifier: bool,
    tolerance: Tolerance,
) -> Result<Agreement, String> {
    if outputs.len() != reference.len() {
        return Err(format!(
            "{} inputs against the reference's {}",
            outputs.len(),
            reference.len()
        ));
    }
    let mut agreement = Agreement {
        max_abs_diff: 0.0,
        max_rel_diff: 0.0,
        min_cosine: 1.0,
        top1_agree: classifier.then_some(0),
        top5_agree: classifier.then_some(0),
        inputs: outputs.len(),
        not_close: 0,
        float_elements: 0,
        integer_mismatches: 0,
        integer_elements: 0,
    };
    for (input, (got, want)) in outputs.iter().zip(reference).enumerate() {
        if got.len() != want.len() {
            return Err(format!(
                "{} outputs against the reference's {}",
                got.len(),
                want.len()
            ));
        }
        for (index, (g, w)) in got.iter().zip(want).enumerate() {
            if g.shape != w.shape {
                return Err(format!(
                    "output {index} of input {input} has shape {:?}, the reference's {:?}",
                    g.shape, w.shape
                ));
            }
            if w.element_type().kind() != ElementKind::Float {
                let (g, w) = (g.data.to_f64(), w.data.to_f64());
                agreement.integer_elements += w.len();
                agreement.integer_mismatches += g.iter().zip(&w).filter(|(a, b)| a != b).count();
                agreement.max_abs_diff = agreement.max_abs_diff.max(
                    g.iter()
                        .zip(&w)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0, f64::max),
                );
                continue;
            }
            let (g, w) = (g.data.to_f32(), w.data.to_f32());
            let abs = max_abs_diff(&g, &w);
            let scale = w.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
            agreement.float_elements += w.len();
            agreement.not_close += g
                .iter()
                .zip(&w)
                .filter(|&(&a, &b)| {
                    let (a, b) = (f64::from(a), f64::from(b));
                    let limit = tolerance.atol * scale.max(1.0) + tolerance.rtol * b.abs();
                    // NaN on either side is never close.
                    !matches!(
                        (a - b).abs().partial_cmp(&limit),
                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                    )
                })
                .count();
            agreement.max_abs_diff = agreement.max_abs_diff.max(abs);
            agreement.max_rel_diff =
                agreement
                    .max_rel_diff
                    .max(if scale > 0.0 { abs / scale } else { abs });
            agreement.min_cosine = agreement.min_cosine.min(cosine(&g, &w));
            if index == 0 && classifier {
                let (gt, wt) = (top_k(&g, 5), top_k(&w, 5));
                if gt.first() == wt.first() {
                    *agreement.top1_agree.as_mut().expect("classifier") += 1;
                }
                let (mut gs, mut ws) = (gt, wt);
                gs.sort_unstable();
                ws.sort_unstable();
                if gs == ws {
                    *agreement.top5_agree.as_mut().expect("classifier") += 1;
                }
            }
        }
    }
    Ok(agreement)
}

/// Judges an agreement against the thresholds; `reduced` selects the looser ones. Integer outputs must be
/// equal; float ones pass when every element is within the tolerance, or else when cosine and top-1 meet
/// their thresholds.
pub fn judge(
    agreement: &Agreement,
    rules: &ParityRules,
    reduced: bool,
) -> (ParityVerdict, Vec<String>) {
    let (min_cosine, min_top1) = if reduced {
        (rules.reduced_min_cosine, rules.reduced_min_top1_agreement)
    } else {
        (rules.min_cosine, rules.min_top1_agreement)
    };
    let kind = if reduced {
        "reduced-precision"
    } else {
        "float"
    };
    let mut reasons = Vec::new();
    if agreement.integer_mismatches > 0 {
        reasons.push(format!(
            "{} of {} elements of integer outputs differ from the reference (compared exactly)",
            agreement.integer_mismatches, agreement.integer_elements
        ));
    }
    if agreement.not_close > 0 {
        let mut float_reasons = Vec::new();
        if agreement.min_cosine < min_cosine {
            float_reasons.push(format!(
                "cosine {:.6} below {min_cosine} ({kind} threshold); max |diff| {:.3e}",
                agreement.min_cosine, agreement.max_abs_diff
            ));
        }
        if let Some(top1) = agreement.top1_agree {
            let share = top1 as f64 / agreement.inputs.max(1) as f64;
            if share < min_top1 {
                float_reasons.push(format!(
                    "top-1 agrees on {top1} of {} inputs, below {:.0}% ({kind} threshold)",
                    agreement.inputs,
                    min_top1 * 100.0
                ));
            }
        }
        if !float_reasons.is_empty() {
            let tolerance = rules.tolerance(reduced);
            float_reasons.push(format!(
                "{} of {} float elements outside atol {} × max(1, max |reference|) + rtol {} × |reference|",
                agreement.not_close, agreement.float_elements, tolerance.atol, tolerance.rtol
            ));
        }
        reasons.extend(float_reasons);
    }
    let verdict = if reasons.is_empty() {
        ParityVerdict::Pass
    } else {
        ParityVerdict::Fail
    };
    (verdict, reasons)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

/// Cosine similarity; two all-zero vectors are identical (1), one all-zero vector against another is 0.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    match (na == 0.0, nb == 0.0) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        _ => dot / (na.sqrt() * nb.sqrt()),
    }
}

/// The indices of the `k` largest values, largest first (ties: lower index first).
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[j].total_cmp(&values[i]).then(i.cmp(&j)));
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_backend_api::TensorData;

    const FLOAT: Tolerance = Tolerance {
        atol: 1e-4,
        rtol: 1e-3,
    };

    fn tensor(values: &[f32]) -> Tensor {
        Tensor {
            shape: vec![1, values.len()],
            data: TensorData::F32(values.to_vec()),
        }
    }

    #[test]
    fn metrics_on_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-12);
        assert!((cosine(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        // (1·4 + 2·5 + 3·6) / (√14 · √77) = 32 / 32.8329… = 0.974631…
        assert!((cosine(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) - 0.974_631_846).abs() < 1e-8);
        assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]), 1.0);
        assert_eq!(max_abs_diff(&[1.0, 2.0, 3.0], &[1.5, 2.0, 1.0]), 2.0);
        assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9, -1.0], 3), vec![1, 3, 2]);
    }

    #[test]
    fn identical_outputs_agree_fully() {
        let out = vec![vec![tensor(&[1.0, 5.0, 3.0, 2.0, 0.0, 4.0])]];
        let a = compare(&out, &out, true, FLOAT).unwrap();
        assert_eq!(
            (a.max_abs_diff, a.max_rel_diff, a.min_cosine),
            (0.0, 0.0, 1.0)
        );
        assert_eq!((a.top1_agree, a.top5_agree), (Some(1), Some(1)));
        assert_eq!(
            judge(&a, &ParityRules::default(), false).0,
            ParityVerdict::Pass
        );
    }

    #[test]
    fn a_wrong_answer_is_caught_with_its_figures() {
        let reference = vec![
            vec![tensor(&[1.0, 5.0, 3.0, 2.0, 0.0, 4.0])],
            vec![tensor(&[9.0, 1.0, 3.0, 2.0, 0.0, 4.0])],
        ];
        // Second input: the winner moves from class 0 to class 1.
        let wrong = vec![
            vec![tensor(&[1.0, 5.0, 3.0, 2.0, 0.0, 4.0])],
            vec![tensor(&[1.0, 9.0, 3.0, 2.0, 0.0, 4.0])],
        ];
        let a = compare(&wrong, &reference, true, FLOAT).unwrap();
        assert_eq!(a.max_abs_diff, 8.0);
        assert!((a.max_rel_diff - 8.0 / 9.0).abs() < 1e-12);
        assert_eq!(a.top1_agree, Some(1));
        // Classes 0 and 1 swap places, but both stay in the top five.
        assert_eq!(a.top5_agree, Some(2));
        let (verdict, reasons) = judge(&a, &ParityRules::default(), false);
        assert_eq!(verdict, ParityVerdict::Fail);
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("top-1 agrees on 1 of 2 inputs")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.starts_with("cosine 0.")),
            "{reasons:?}"
        );
    }

    #[test]
    fn small_drift_fails_float_thresholds_but_passes_reduced_ones() {
        let reference = vec![vec![tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])]];
        let drifted = vec![vec![tensor(&[1.3, 1.8, 3.2, 3.7, 5.2, 6.1])]];
        let a = compare(&drifted, &reference, true, FLOAT).unwrap();
        assert!(
            a.min_cosine < 0.999 && a.min_cosine > 0.98,
            "{}",
            a.min_cosine
        );
        assert_eq!(
            judge(&a, &ParityRules::default(), false).0,
            ParityVerdict::Fail
        );
        assert_eq!(
            judge(&a, &ParityRules::default(), true).0,
            ParityVerdict::Pass
        );
    }

    #[test]
    fn shape_mismatches_are_explained() {
        let a = vec![vec![tensor(&[1.0, 2.0])]];
        let b = vec![vec![tensor(&[1.0, 2.0, 3.0])]];
        assert!(compare(&a, &b, false, FLOAT)
            .unwrap_err()
            .contains("has shape [1, 2], the reference's [1, 3]"));
    }

    #[test]
    fn a_near_zero_output_within_the_tolerance_passes_though_its_cosine_is_low() {
        let reference = vec![vec![tensor(&[1e-5, 2e-5, 0.0, 3e-5, 0.0, 1e-5])]];
        let close = vec![vec![tensor(&[2e-5, 1e-5, 1e-5, 2e-5, 1e-5, 0.0])]];
        let a = compare(&close, &reference, false, FLOAT).unwrap();
        assert!(a.min_cosine < 0.9, "{}", a.min_cosine);
        assert_eq!(a.not_close, 0);
        assert_eq!(
            judge(&a, &ParityRules::default(), false).0,
            ParityVerdict::Pass
        );
        // Moved, not jittered: a wrong answer near zero still fails.
        let moved = vec![vec![tensor(&[1e-3, 0.0, 0.0, 0.0, 0.0, 0.0])]];
        let reference = vec![vec![tensor(&[0.0, 0.0, 0.0, 0.0, 0.0, 1e-3])]];
        let a = compare(&moved, &reference, false, FLOAT).unwrap();
        let (verdict, reasons) = judge(&a, &ParityRules::default(), false);
        assert_eq!(verdict, ParityVerdict::Fail);
        assert!(
            reasons
                .iter()
                .any(|r| r.starts_with("2 of 6 float elements outside")),
            "{reasons:?}"
        );
    }

    #[test]
    fn integer_outputs_must_be_equal() {
        let ids = |values: &[i64]| Tensor {
            shape: vec![values.len()],
            data: TensorData::I64(values.to_vec()),
        };
        let reference = vec![vec![tensor(&[0.5, 0.25]), ids(&[7, 3, 9])]];
        let same = compare(&reference, &reference, false, FLOAT).unwrap();
        assert_eq!((same.integer_mismatches, same.integer_elements), (0, 3));
        assert_eq!(
            judge(&same, &ParityRules::default(), false).0,
            ParityVerdict::Pass
        );
        let one_off = vec![vec![tensor(&[0.5, 0.25]), ids(&[7, 4, 9])]];
        let a = compare(&one_off, &reference, false, FLOAT).unwrap();
        assert!(
            (a.min_cosine - 1.0).abs() < 1e-12,
            "integer outputs stay out of the cosine"
        );
        let (verdict, reasons) = judge(&a, &ParityRules::default(), true);
        assert_eq!(verdict, ParityVerdict::Fail, "even at reduced precision");
        assert_eq!(
            reasons,
            ["1 of 3 elements of integer outputs differ from the reference (compared exactly)"]
        );
    }

    #[test]
    fn outputs_are_paired_by_name_or_else_by_position_with_a_note() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let reference = ReferenceOutputs {
            label: "ort onnx 1 thread".into(),
            outputs: Ok(vec![vec![tensor(&[1.0, 2.0]), tensor(&[5.0, -3.0, 0.5])]]),
            names: names(&["boxes", "scores"]),
        };
        let swapped = vec![vec![tensor(&[5.0, -3.0, 0.5]), tensor(&[1.0, 2.0])]];
        let rules = ParityRules::default();
        let by_name = check(
            (&swapped, &names(&["scores", "boxes"])),
            &reference,
            false,
            false,
            false,
            &rules,
        );
        assert_eq!(
            by_name.verdict,
            ParityVerdict::Pass,
            "{:?}",
            by_name.reasons
        );
        assert!(by_name.reasons.is_empty(), "{:?}", by_name.reasons);
        let in_order = vec![vec![tensor(&[1.0, 2.0]), tensor(&[5.0, -3.0, 0.5])]];
        let renamed = check(
            (&in_order, &names(&["Identity", "Identity_1"])),
            &reference,
            false,
            false,
            false,
            &rules,
        );
        assert_eq!(renamed.verdict, ParityVerdict::Pass);
        assert_eq!(
            renamed.reasons,
            ["outputs paired by declared position: named Identity, Identity_1 here, boxes, scores in the \
              reference"]
        );
    }
}
