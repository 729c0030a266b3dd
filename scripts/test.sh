#!/usr/bin/env bash
# The project's test command (README "Run the tests"); CI runs exactly this through .ci/run.
# Builds, checks formatting and lints, runs every test, then checks the assignor vectors
# against Kafka's own Java code (needs Java 17 and Maven; Maven fetches Kafka's jars).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "== build"
cargo build --locked --all-targets
echo "== format"
cargo fmt --all -- --check
echo "== lint"
cargo clippy --locked --all-targets -- -D warnings
echo "== tests"
cargo test --locked
echo "== reference reports (reports/ matches the shipped scenarios)"
bash scripts/reference-reports.sh --check
echo "== conformance (Kafka's Java assignors)"
bash conformance/check.sh
