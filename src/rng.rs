//! A small seeded generator (SplitMix64) for reproducible splits and sampling: the same seed gives
//! the same documents on every machine and every version of dependencies.

pub struct SplitMix64(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The `i`-th value (from 0) of `SplitMix64::new(seed)`, computed without the `i` before it: each
/// element of a large random array is then independent of the others (a loop over it vectorises).
#[inline(always)]
pub fn splitmix64_at(seed: u64, i: u64) -> u64 {
    mix(seed.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// SplitMix64's output function.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for the n used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Fisher-Yates shuffle in place (from the last element down, each swapped with one at or
    /// before it).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_access_matches_the_stream() {
        let mut stream = SplitMix64::new(42);
        for i in 0..100 {
            assert_eq!(splitmix64_at(42, i), stream.next_u64(), "value {i}");
        }
    }
}
