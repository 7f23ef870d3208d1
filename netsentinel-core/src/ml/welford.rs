//! Welford's online algorithm for mean and variance (Welford 1962; Chan, Golub and LeVeque
//! 1979 for `merge`).

use serde::{Deserialize, Serialize};

/// Running count, mean, variance, minimum and maximum of a stream of numbers, in constant
/// memory and numerically stable.
///
/// ```
/// use netsentinel_core::ml::Welford;
/// let mut w = Welford::default();
/// for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
///     w.push(x);
/// }
/// assert_eq!(w.mean(), 5.0);
/// assert_eq!(w.population_variance(), 4.0);
/// assert!((w.sample_variance() - 32.0 / 7.0).abs() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl Welford {
    /// Adds one value.
    pub fn push(&mut self, x: f64) {
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Combines two partial statistics (Chan et al.).
    pub fn merge(&mut self, other: &Welford) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n = (self.count + other.count) as f64;
        let delta = other.mean - self.mean;
        self.m2 += other.m2 + delta * delta * self.count as f64 * other.count as f64 / n;
        self.mean += delta * other.count as f64 / n;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Values seen.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean (0 when empty).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Variance of the values as a whole population (divides by n).
    pub fn population_variance(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.m2 / self.count as f64
        }
    }

    /// Unbiased sample variance (divides by n - 1).
    pub fn sample_variance(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            self.m2 / (self.count - 1) as f64
        }
    }

    /// Population standard deviation.
    pub fn std_dev(&self) -> f64 {
        self.population_variance().sqrt()
    }

    /// Smallest value (0 when empty).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// Largest value (0 when empty).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// Standard deviation over mean; 0 when the mean is 0.
    pub fn coefficient_of_variation(&self) -> f64 {
        if self.mean == 0.0 {
            0.0
        } else {
            self.std_dev() / self.mean.abs()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_pass(xs: &[f64]) -> (f64, f64) {
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        (mean, var)
    }

    #[test]
    fn matches_two_pass_and_merge_equals_whole() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| ((i * 7919) % 1013) as f64 * 0.37 + 1e6)
            .collect();
        let mut whole = Welford::default();
        xs.iter().for_each(|&x| whole.push(x));
        let (mean, var) = two_pass(&xs);
        assert!((whole.mean() - mean).abs() < 1e-6);
        assert!((whole.population_variance() - var).abs() / var < 1e-9);
        let (a, b) = xs.split_at(313);
        let mut left = Welford::default();
        a.iter().for_each(|&x| left.push(x));
        let mut right = Welford::default();
        b.iter().for_each(|&x| right.push(x));
        left.merge(&right);
        assert_eq!(left.count(), 1000);
        assert!((left.mean() - whole.mean()).abs() < 1e-6);
        assert!((left.population_variance() - whole.population_variance()).abs() / var < 1e-9);
        assert_eq!((left.min(), left.max()), (whole.min(), whole.max()));
    }
}
