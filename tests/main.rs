//! One integration-test binary (style.md habit 15): each module states its goal and method.

mod assignors;
mod batching;
mod check;
mod cli;
mod determinism;
mod groups;
mod kip848;
mod producer_rules;
mod replication;
mod reports;
mod scenario_errors;
mod transactions;
mod util;
