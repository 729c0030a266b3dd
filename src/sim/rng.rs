//! Seeded random streams. One ChaCha stream per (component kind, component index, purpose), so
//! changing one component's config never shifts another component's draws (common random numbers).

use crate::scenario::model::Dist;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Which kind of component owns a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum StreamKind {
    Network = 1,
    Producer = 2,
    Broker = 3,
    Consumer = 4,
    Faults = 5,
}

/// What a stream is used for within its component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    Arrivals = 1,
    RecordSizes = 2,
    Keys = 3,
    Partitioner = 4,
    Backoff = 5,
    Latency = 6,
    RequestCost = 7,
    Processing = 8,
    Loss = 9,
    /// `kafkasim check`: the fault schedule drawn for one seed.
    FaultSchedule = 10,
    /// A transactional producer's commit-or-abort draws.
    Transactions = 11,
    /// Where a timeline entry with `jitter_ms` falls in its window.
    TimelineJitter = 12,
}

/// A random stream with the few draws the models need.
#[derive(Debug, Clone)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

/// 1 / 2^53: maps 53 random bits onto [0, 1).
const UNIT_SCALE: f64 = 1.0 / (1u64 << 53) as f64;
/// Standard normal quantile at 0.99, for log-normal distributions given by p50 and p99.
const Z_99: f64 = 2.326_347_874_040_841;

impl SimRng {
    /// The stream for (seed, kind, index, purpose). Index must fit in 48 bits.
    pub fn new(seed: u64, kind: StreamKind, index: u64, purpose: Purpose) -> Self {
        assert!(index < (1 << 48), "stream index {index} too large");
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream((kind as u64) << 56 | index << 8 | purpose as u64);
        SimRng { inner }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * UNIT_SCALE
    }

    /// Uniform integer in [0, bound); bound must be positive. Lemire's method, unbiased.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "below(0)");
        loop {
            let product = u128::from(self.inner.next_u64()) * u128::from(bound);
            let low = product as u64;
            if low >= bound.wrapping_neg() % bound {
                return (product >> 64) as u64;
            }
        }
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        -mean * (1.0 - self.unit()).ln()
    }

    /// Standard normal by Box-Muller (two uniforms per draw, the second value discarded so every
    /// draw consumes the same amount of the stream).
    pub fn standard_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// One draw from a distribution, in the distribution's unit; never negative.
    pub fn sample(&mut self, sampler: &Sampler) -> f64 {
        let value = match *sampler {
            Sampler::Fixed(value) => value,
            Sampler::Uniform { min, max } => min + (max - min) * self.unit(),
            Sampler::Exponential { mean } => self.exponential(mean),
            Sampler::Lognormal { p50, sigma } => p50 * (sigma * self.standard_normal()).exp(),
        };
        value.max(0.0)
    }
}

/// A distribution ready to draw from: the log-normal's sigma (a logarithm) is worked out once
/// rather than at every draw (network latency draws one per message); the draws are the same.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    Fixed(f64),
    Uniform { min: f64, max: f64 },
    Exponential { mean: f64 },
    Lognormal { p50: f64, sigma: f64 },
}

impl From<&Dist> for Sampler {
    fn from(dist: &Dist) -> Self {
        match *dist {
            Dist::Fixed { value } => Sampler::Fixed(value),
            Dist::Uniform { min, max } => Sampler::Uniform { min, max },
            Dist::Exponential { mean } => Sampler::Exponential { mean },
            Dist::Lognormal { p50, p99 } => Sampler::Lognormal {
                p50,
                sigma: (p99 / p50).ln() / Z_99,
            },
        }
    }
}

/// The mean of a distribution, for closed-form checks and for reports.
pub fn dist_mean(dist: &Dist) -> f64 {
    match Sampler::from(dist) {
        Sampler::Fixed(value) => value,
        Sampler::Uniform { min, max } => (min + max) / 2.0,
        Sampler::Exponential { mean } => mean,
        Sampler::Lognormal { p50, sigma } => p50 * (sigma * sigma / 2.0).exp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_repeatable() {
        let mut a = SimRng::new(7, StreamKind::Producer, 0, Purpose::Arrivals);
        let mut b = SimRng::new(7, StreamKind::Producer, 0, Purpose::Arrivals);
        let mut c = SimRng::new(7, StreamKind::Producer, 1, Purpose::Arrivals);
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let again: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let other: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn lognormal_median_and_p99_match_parameters() {
        let mut rng = SimRng::new(1, StreamKind::Network, 0, Purpose::Latency);
        let dist = Dist::Lognormal {
            p50: 2.0,
            p99: 10.0,
        };
        let mut draws: Vec<f64> = (0..200_000)
            .map(|_| rng.sample(&Sampler::from(&dist)))
            .collect();
        draws.sort_by(f64::total_cmp);
        let p50 = draws[100_000];
        let p99 = draws[198_000];
        assert!((p50 - 2.0).abs() < 0.03, "p50 {p50}");
        assert!((p99 - 10.0).abs() < 0.3, "p99 {p99}");
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = SimRng::new(3, StreamKind::Producer, 0, Purpose::Partitioner);
        let mut seen = [0u32; 6];
        for _ in 0..6000 {
            seen[rng.below(6) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }
}
