//! How many multiply-accumulates one core of this machine can do per second, measured: the yardstick for a
//! row's achieved GMAC/s. The loop keeps 12 independent vector accumulators busy with fused multiply-adds, the
//! widest the CPU has (AVX-512 or AVX2+FMA on x86_64, found at run time, else multiply and add; NEON on
//! aarch64), on
//! registers only, so memory never limits it. It is an upper bound no network reaches: real layers also load
//! and store.

use std::time::Instant;

/// Independent accumulators: enough to cover the FMA latency (4–5 cycles) on two ports.
const CHAINS: usize = 12;

/// The measured peak of one core, in billions of multiply-accumulates per second, and how it was measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Peak {
    pub gmacs_per_core: f64,
    pub method: String,
}

/// Runs the kernel for about `seconds` (best of five slices) and returns the rate.
pub fn measure(seconds: f64) -> Peak {
    let (kernel, lanes, method) = kernel();
    let iterations = 100_000u64;
    let mut best = 0.0f64;
    let slice = seconds / 5.0;
    for _ in 0..5 {
        let started = Instant::now();
        let mut done = 0u64;
        while started.elapsed().as_secs_f64() < slice {
            std::hint::black_box(kernel(std::hint::black_box(iterations)));
            done += iterations;
        }
        let rate = (done * (CHAINS * lanes) as u64) as f64 / started.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    Peak {
        gmacs_per_core: best / 1e9,
        method: method.to_string(),
    }
}

type Kernel = fn(u64) -> f32;

/// The widest kernel this CPU runs, its lanes per accumulator, and its description.
fn kernel() -> (Kernel, usize, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return (
                x86::fma_avx512,
                16,
                "AVX-512 fused multiply-add, 16 f32 lanes, 12 chains, one core",
            );
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return (
                x86::fma_avx2,
                8,
                "AVX2 fused multiply-add, 8 f32 lanes, 12 chains, one core",
            );
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return (
            arm::fma_neon,
            4,
            "NEON fused multiply-add, 4 f32 lanes, 12 chains, one core",
        );
    }
    #[allow(unreachable_code)]
    (
        portable,
        4,
        "multiply and add in 4-lane arrays (no FMA unit found), 12 chains, one core",
    )
}

/// Multiply-add on plain arrays, which the compiler turns into the baseline vector instructions.
fn portable(iterations: u64) -> f32 {
    let mut acc = [[1.0f32; 4]; CHAINS];
    let (a, b) = ([0.999_999f32; 4], [1e-7f32; 4]);
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            for lane in 0..4 {
                chain[lane] = chain[lane] * a[lane] + b[lane];
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    pub fn fma_avx2(iterations: u64) -> f32 {
        // SAFETY: `kernel` selects this only after detecting AVX2 and FMA.
        unsafe { run(iterations) }
    }

    pub fn fma_avx512(iterations: u64) -> f32 {
        // SAFETY: `kernel` selects this only after detecting AVX-512F.
        unsafe { run_avx512(iterations) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(iterations: u64) -> f32 {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..iterations {
            for chain in acc.iter_mut() {
                *chain = _mm512_fmadd_ps(*chain, a, b);
            }
        }
        acc.iter().map(|&c| _mm512_reduce_add_ps(c)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn run(iterations: u64) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..iterations {
            for chain in acc.iter_mut() {
                *chain = _mm256_fmadd_ps(*chain, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let mut total = 0.0;
        for chain in acc {
            // SAFETY: `lanes` holds exactly the 8 floats a 256-bit store writes.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), chain) };
            total += lanes.iter().sum::<f32>();
        }
        total
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::CHAINS;
    use std::arch::aarch64::*;

    pub fn fma_neon(iterations: u64) -> f32 {
        // SAFETY: NEON is part of every aarch64 CPU.
        unsafe {
            let a = vdupq_n_f32(0.999_999);
            let b = vdupq_n_f32(1e-7);
            let mut acc = [vdupq_n_f32(1.0); CHAINS];
            for _ in 0..iterations {
                for chain in acc.iter_mut() {
                    *chain = vfmaq_f32(b, *chain, a);
                }
            }
            acc.iter().map(|&c| vaddvq_f32(c)).sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_compute_what_they_claim() {
        // x ← 0.999999·x + 1e-7 converges towards 0.1 from 1; after n steps it is 0.1 + 0.9·0.999999^n.
        let (kernel, lanes, _) = kernel();
        let n = 1000;
        let expected = (0.1 + 0.9 * 0.999_999f64.powi(n as i32)) * (CHAINS * lanes) as f64;
        assert!(
            (f64::from(kernel(n)) - expected).abs() < 1e-2,
            "{} against {expected}",
            kernel(n)
        );
        let expected_portable = (0.1 + 0.9 * 0.999_999f64.powi(n as i32)) * (CHAINS * 4) as f64;
        assert!((f64::from(portable(n)) - expected_portable).abs() < 1e-2);
    }

    #[test]
    fn a_measured_peak_is_a_plausible_rate() {
        let peak = measure(0.05);
        // Between 0.1 and 1000 GMAC/s per core: any CPU this runs on, even under emulation or load.
        assert!(
            peak.gmacs_per_core > 0.1 && peak.gmacs_per_core < 1000.0,
            "{peak:?}"
        );
        assert!(!peak.method.is_empty());
    }
}
