//! `kafkasim validate FILE [--set OVERRIDE]... [--variant NAME]`: parse and resolve the scenario,
//! then print the resolved scenario (every default filled, every unit converted, and the
//! resolved `check` section when the file has one) as JSON, or return every problem found
//! (exit 2).

use crate::check::spec::CheckSpec;
use crate::cli::args::ValidateArgs;
use crate::error::UserError;
use std::process::ExitCode;

pub fn execute(args: &ValidateArgs) -> Result<ExitCode, UserError> {
    let scenario = crate::scenario::load(&args.file, &args.overrides, args.variant.as_deref())?;
    let cannot_print = |error: serde_json::Error| {
        UserError::new(format!("cannot print the resolved scenario: {error}"))
    };
    let mut resolved = serde_json::to_value(&scenario).map_err(cannot_print)?;
    // `load` read the file already, so it is readable and valid JSON.
    let source = args.file.display().to_string();
    let tree: serde_json::Value = std::fs::read_to_string(&args.file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    if tree.get("check").is_some() {
        let spec = CheckSpec::of_scenario(&tree, &scenario, &source)?;
        if let Some(map) = resolved.as_object_mut() {
            map.insert(
                "check".to_string(),
                serde_json::to_value(&spec).map_err(cannot_print)?,
            );
        }
    }
    let mut text = serde_json::to_string_pretty(&resolved).map_err(cannot_print)?;
    text.push('\n');
    crate::cli::print_stdout(&text);
    Ok(ExitCode::SUCCESS)
}
