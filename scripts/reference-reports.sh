#!/usr/bin/env bash
# Reference reports: reports/<file stem>/ is `kafkasim run` on each shipped scenario in scenarios/,
# except bench-*.json (too long to run in CI).
#   bash scripts/reference-reports.sh          regenerate reports/ (commit the result)
#   bash scripts/reference-reports.sh --check  regenerate into a temporary folder and diff against
#                                              reports/; fails if they differ (scripts/test.sh)
# metrics.json's wall_ms is the one figure that differs from run to run: the check ignores it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode="${1:-write}"
cargo build --locked --quiet --bin kafkasim
bin="${CARGO_TARGET_DIR:-target}/debug/kafkasim"
if [[ "$mode" == "--check" ]]; then
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
else
    out="reports"
    mkdir -p "$out"
fi
for file in scenarios/*.json; do
    stem="$(basename "$file" .json)"
    [[ "$stem" == bench-* ]] && continue
    "$bin" run "$file" --out "$out/$stem" >/dev/null
done
if [[ "$mode" == "--check" ]]; then
    # Every committed report must still be produced, and be produced identically.
    for dir in reports/*/; do
        stem="$(basename "$dir")"
        [[ -d "$out/$stem" ]] || { echo "reports/$stem: no scenarios/$stem.json produces it; remove it"; exit 1; }
    done
    if ! diff -r -I '"wall_ms"' reports "$out" >/dev/null; then
        diff -r -I '"wall_ms"' reports "$out" | head -40
        echo "reference reports are out of date: run bash scripts/reference-reports.sh and commit reports/"
        exit 1
    fi
    echo "reference reports are up to date"
fi
