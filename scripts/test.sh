#!/usr/bin/env bash
# The project's test command (README "Run the tests"); CI runs exactly this through .ci/run.
# Builds, checks formatting and lints, runs every test, then checks the assignor vectors
# against Kafka's own Java code (needs Java 17 and Maven; Maven fetches Kafka's jars), and runs the
# fastest real-Kafka fidelity comparison (conformance/live; starts a one-broker cluster on loopback).
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
echo "== fidelity against a real Kafka (conformance/live, fastest scenario)"
KAFKASIM_BIN="${CARGO_TARGET_DIR:-target}/debug/kafkasim" bash conformance/live/run.sh static-member-restart
