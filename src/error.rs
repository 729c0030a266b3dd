//! User-facing errors: everything a person can get wrong (a file, a field, an argument).
//! They carry a message that names the field, the value and what is allowed, and map to exit 2.
//! Broken invariants are not errors: they panic with the seed (style.md habit 9).

use std::fmt;

/// A mistake in the user's input or arguments. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
        }
    }

    /// An error about one field: `path: value is not allowed: what is allowed`.
    pub fn field(path: &str, value: impl fmt::Display, allowed: &str) -> Self {
        UserError::new(format!("{path}: {value} is not allowed: {allowed}"))
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// The closest candidate to `input` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(input, candidate);
        if best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    let limit = (input.len() / 3).max(2);
    best.filter(|(distance, _)| *distance <= limit)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["linger.ms", "batch.size", "acks"];
        assert_eq!(did_you_mean("lnger.ms", names), Some("linger.ms"));
        assert_eq!(did_you_mean("batch_size", names), Some("batch.size"));
        assert_eq!(did_you_mean("compression", names), None);
    }
}
