//! Means and 95% confidence intervals (Student t) over seeds, for `compare` and `sweep`.

/// Two-sided 95% Student t quantiles for 1..=30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The t quantile for `df` degrees of freedom; beyond the table, steps down towards 1.960.
pub fn t_975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T_975[df - 1],
        31..=40 => 2.021,
        41..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// Mean of the samples and the half-width of their 95% confidence interval (0 for one sample).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub ci95: f64,
}

pub fn estimate(samples: &[f64]) -> Estimate {
    let count = samples.len();
    if count == 0 {
        return Estimate {
            mean: 0.0,
            ci95: 0.0,
        };
    }
    let mean = samples.iter().sum::<f64>() / count as f64;
    if count == 1 {
        return Estimate { mean, ci95: 0.0 };
    }
    let variance =
        samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (count - 1) as f64;
    let ci95 = t_975(count - 1) * (variance / count as f64).sqrt();
    Estimate { mean, ci95 }
}

/// A number for tables: at most three decimals, no trailing zeros.
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_string();
    }
    let text = format!("{:.3}", (value * 1000.0).round() / 1000.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_of_known_samples() {
        // Mean 2, sample sd 1, n = 3: half-width 4.303 / sqrt(3).
        let estimate = estimate(&[1.0, 2.0, 3.0]);
        assert_eq!(estimate.mean, 2.0);
        assert!((estimate.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-9);
        assert_eq!(super::estimate(&[5.0]).ci95, 0.0);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(2.0), "2");
        assert_eq!(format_number(-0.0001), "0");
    }
}
