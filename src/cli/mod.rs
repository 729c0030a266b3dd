//! Command-line glue: each subcommand loads its input, calls the library, and prints or writes.
//! No model logic lives here.

pub mod args;
pub mod commands;

use crate::error::UserError;
use args::{Cli, Command};
use std::process::ExitCode;

/// Exit code for a user mistake (bad file, bad field, bad argument), as ripgrep and ruff use.
pub const EXIT_USER_ERROR: u8 = 2;

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => commands::run::execute(&args),
        Command::Compare(args) => commands::compare::execute(&args),
        Command::Sweep(args) => commands::sweep::execute(&args),
        Command::Check(args) => commands::check::execute(&args),
        Command::Validate(args) => commands::validate::execute(&args),
        Command::Assign(args) => commands::assign::execute(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => report_user_error(&error),
    }
}

fn report_user_error(error: &UserError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(EXIT_USER_ERROR)
}

/// Write to stdout; a closed pipe (`kafkasim run … | head`) is not an error.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}
