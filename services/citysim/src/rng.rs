//! Seeded randomness and the few samplers the simulation needs.
//!
//! Every (purpose, district) pair draws from its own ChaCha8 stream of the run's seed, so
//! generators can run on any thread in any order and still produce the same bytes. Values that
//! must not depend on the order of draws (event ids, duplicate flags) come from [`mix64`] hashes
//! of stable identifiers instead.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The random number generator of every simulation stream.
pub type SimRng = ChaCha8Rng;

/// What a random stream is used for: part of its stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Streets, communities and names.
    City = 1,
    /// The facility registry plan.
    Facility = 2,
    /// The renovation programme plan.
    Renovation = 3,
    /// Hotline ticket arrivals and lifecycles.
    Hotline = 4,
    /// Invalid records mixed into the output.
    Bad = 5,
}

/// A ChaCha8 stream for `purpose` and `index` (usually a district index) under `seed`.
pub fn rng(seed: u64, purpose: Purpose, index: u64) -> SimRng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    // Separate ChaCha streams are independent, unlike re-seeding with nearby seeds.
    r.set_stream(mix64(((purpose as u64) << 40) ^ index));
    r
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a sequence of identifiers.
pub fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x5851_F42D_4C95_7F2D, |acc, &p| mix64(acc ^ mix64(p)))
}

/// Whether the event identified by `id` is one of the `rate` share picked by hashing.
pub fn hashed_chance(id: u64, rate: f64) -> bool {
    (mix64(id) >> 11) as f64 * (1.0 / (1u64 << 53) as f64) < rate
}

/// A uniform value in `[0, 1)`.
pub fn unit(rng: &mut SimRng) -> f64 {
    rng.random::<f64>()
}

/// `true` with probability `p`.
pub fn chance(rng: &mut SimRng, p: f64) -> bool {
    unit(rng) < p
}

/// A uniform value in `[lo, hi)`.
pub fn uniform(rng: &mut SimRng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(rng)
}

/// A uniform integer in `[lo, hi]`.
pub fn int(rng: &mut SimRng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// A standard normal deviate (Box–Muller).
pub fn normal(rng: &mut SimRng) -> f64 {
    let u1 = 1.0 - unit(rng);
    let u2 = unit(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal deviate with median `median` and log-scale spread `sigma`.
pub fn lognormal(rng: &mut SimRng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// An exponential deviate with mean `mean`.
pub fn exponential(rng: &mut SimRng, mean: f64) -> f64 {
    -mean * (1.0 - unit(rng)).ln()
}

/// A Poisson deviate with mean `lambda` (exact below 30, normal approximation above).
pub fn poisson(rng: &mut SimRng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda < 30.0 {
        // Knuth: multiply uniforms until the product drops below e^-λ.
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = unit(rng);
        while p > limit {
            k += 1;
            p *= unit(rng);
        }
        return k;
    }
    (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u64
}

/// `x` rounded down or up at random so that the expectation is `x`.
pub fn stochastic_round(rng: &mut SimRng, x: f64) -> u64 {
    if x <= 0.0 {
        return 0;
    }
    let floor = x.floor();
    floor as u64 + u64::from(chance(rng, x - floor))
}

/// An index into `weights`, picked with probability proportional to its weight.
pub fn pick(rng: &mut SimRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = unit(rng) * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// An element of `items`, uniformly.
pub fn choose<'a, T>(rng: &mut SimRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A copy of an element of `items`, uniformly (for lists of `&'static str`).
pub fn choose_copy<T: Copy>(rng: &mut SimRng, items: &[T]) -> T {
    *choose(rng, items)
}

/// An element of `items` picked by hash `h` (no random stream consumed).
pub fn choose_by<T: Copy>(h: u64, items: &[T]) -> T {
    items[(mix64(h) % items.len() as u64) as usize]
}

/// A cumulative distribution over indices for repeated weighted draws in `O(log n)`.
#[derive(Debug, Clone, Default)]
pub struct Cumulative {
    cum: Vec<f64>,
}

impl Cumulative {
    /// The distribution proportional to `weights`.
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cum = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Self { cum }
    }

    /// The sum of the weights.
    pub fn total(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }

    /// A random index.
    pub fn sample(&self, rng: &mut SimRng) -> usize {
        let x = unit(rng) * self.total();
        self.cum
            .partition_point(|&c| c <= x)
            .min(self.cum.len().saturating_sub(1))
    }
}

/// Splits `total` into integer parts proportional to `weights` (largest remainder), so the
/// parts add up to `total` exactly.
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() {
        return Vec::new();
    }
    if sum <= 0.0 {
        let mut out = vec![0; weights.len()];
        out[0] = total;
        return out;
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut rest = total - out.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Stable sort: ties go to the earlier index, so the split is deterministic.
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra)
    });
    for i in order {
        if rest == 0 {
            break;
        }
        out[i] += 1;
        rest -= 1;
    }
    out
}

/// Writes a UUIDv7-formatted id: `time_ms` in the top 48 bits, then 74 bits of `bits`.
pub fn write_uuid7(out: &mut String, time_ms: i64, bits: u64, bits2: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 16];
    let ts = (time_ms.max(0) as u64) & 0xFFFF_FFFF_FFFF;
    b[..6].copy_from_slice(&ts.to_be_bytes()[2..]);
    b[6] = 0x70 | ((bits >> 60) as u8 & 0x0F);
    b[7] = (bits >> 52) as u8;
    b[8] = 0x80 | ((bits2 >> 58) as u8 & 0x3F);
    b[9..16].copy_from_slice(&bits2.to_be_bytes()[1..]);
    out.clear();
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0F)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_is_exact() {
        assert_eq!(apportion(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(apportion(7, &[0.0, 2.0]), vec![0, 7]);
        assert_eq!(apportion(0, &[1.0]).iter().sum::<u64>(), 0);
    }

    #[test]
    fn uuid7_is_formatted() {
        let mut s = String::new();
        write_uuid7(&mut s, 1_714_962_060_000, u64::MAX, 0);
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "7");
        assert_eq!(&s[19..20], "8");
        assert!(s.starts_with("018f4bb4-52e0-7"), "{s}");
    }

    #[test]
    fn streams_are_reproducible() {
        let a: Vec<f64> = (0..4)
            .map(|_| unit(&mut rng(7, Purpose::City, 3)))
            .collect();
        let b: Vec<f64> = (0..4)
            .map(|_| unit(&mut rng(7, Purpose::City, 3)))
            .collect();
        assert_eq!(a, b);
        assert_ne!(
            unit(&mut rng(7, Purpose::City, 3)),
            unit(&mut rng(7, Purpose::City, 4))
        );
    }

    #[test]
    fn poisson_mean_is_close() {
        let mut r = rng(1, Purpose::Hotline, 0);
        for lambda in [0.3, 4.0, 80.0] {
            let n = 4000;
            let mean = (0..n).map(|_| poisson(&mut r, lambda) as f64).sum::<f64>() / n as f64;
            assert!(
                (mean - lambda).abs() < lambda.sqrt() * 0.1 + 0.05,
                "{lambda}: {mean}"
            );
        }
    }
}
