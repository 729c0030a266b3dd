//! One file per subcommand: glue only (load, run, report).

pub mod assign;
pub mod check;
pub mod compare;
pub mod parallel;
pub mod run;
pub mod sweep;
pub mod validate;

use crate::error::UserError;
use std::path::Path;

/// Read a user-named file, with an error that names it.
pub fn read_input(path: &Path) -> Result<String, UserError> {
    std::fs::read_to_string(path)
        .map_err(|error| UserError::new(format!("cannot read {}: {error}", path.display())))
}
