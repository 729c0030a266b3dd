//! One problem in a scenario: a field path and what is wrong with it. `scenario::load_str`
//! collects them all, adds each one's place in the file (`source:line:column`) or the override
//! that set it, and turns the list into one `UserError`, one problem per line.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path as the user writes it: `producers[0].config.linger.ms`; empty for the whole file.
    pub path: String,
    /// What is wrong, after the path: `-5 is not allowed: must be an integer ≥ 0`.
    pub text: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            text: text.into(),
        }
    }

    /// `path: value is not allowed: allowed`, the same shape as `UserError::field`.
    pub fn field(path: impl Into<String>, value: impl fmt::Display, allowed: &str) -> Problem {
        Problem::new(path, format!("{value} is not allowed: {allowed}"))
    }

    /// A required field that is absent.
    pub fn missing(path: impl Into<String>, allowed: &str) -> Problem {
        Problem::new(path, format!("missing: required, {allowed}"))
    }
}

/// `, did you mean "x"?` when a close candidate exists, else the empty string.
pub fn suggestion<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match crate::error::did_you_mean(input, candidates) {
        Some(candidate) => format!(", did you mean \"{candidate}\"?"),
        None => String::new(),
    }
}

/// `"a", "b", "c"` for messages.
pub fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|item| format!("\"{item}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
