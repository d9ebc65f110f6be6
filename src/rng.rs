//! A tiny, fixed pseudo-random generator (SplitMix64), so that a seed means the same tensors and the same
//! measurement order in every version of the harness, whatever the crates around it do.

pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_shuffles_the_same_way_and_keeps_every_item() {
        let mut a: Vec<u32> = (0..10).collect();
        let mut b = a.clone();
        SplitMix64(5).shuffle(&mut a);
        SplitMix64(5).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..10).collect::<Vec<_>>());
        a.sort();
        assert_eq!(a, (0..10).collect::<Vec<_>>());
    }
}
