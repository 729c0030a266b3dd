//! Virtual time: integer nanoseconds from the start of the run. Never a float, never the wall clock.

/// Nanoseconds in one millisecond / microsecond / second.
pub const NS_PER_US: u64 = 1_000;
pub const NS_PER_MS: u64 = 1_000_000;
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// Converts a millisecond count to nanoseconds, saturating (configs such as `retries` go to i32::MAX).
pub const fn ms_to_ns(ms: u64) -> u64 {
    ms.saturating_mul(NS_PER_MS)
}

/// Nanoseconds as fractional milliseconds, for reports only.
pub fn ns_to_ms_f64(ns: u64) -> f64 {
    ns as f64 / NS_PER_MS as f64
}

/// Rounds a non-negative float count of nanoseconds (from a distribution) to integer ns.
pub fn f64_to_ns(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        // `as` saturates at u64::MAX for huge values, which the limits then catch.
        value.round() as u64
    } else {
        0
    }
}
