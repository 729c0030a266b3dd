#!/usr/bin/env bash
# Runs kafkasim scenarios both ways — on a real Kafka 4.1.0 cluster on loopback and in kafkasim —
# and compares the figures with each scenario's tolerances (scenarios/NAME.expect.json).
#
#   bash conformance/live/run.sh            every scenario; rewrites README.md's Fidelity table
#   bash conformance/live/run.sh NAME...    just these; prints their rows
#
# Needs Java 17, Maven (fetches Kafka's jars from Maven Central), Rust and Python 3.
# KAFKASIM_BIN=path uses that kafkasim binary instead of building the release one (CI passes the
# debug build that scripts/test.sh has just made).
# Exit 1 when a figure is out of tolerance. Leaves no process behind (every JVM it starts is
# killed on exit, whatever happens).
set -euo pipefail
LIVE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$LIVE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$LIVE/target/work"
RESULTS="$LIVE/target/results"

cleanup() {
    # Every JVM the harness started wrote its pid next to its files.
    local pidfile pid
    for pidfile in "$WORK"/*/*.pid; do
        [[ -e "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}
trap cleanup EXIT INT TERM

if [[ $# -gt 0 ]]; then
    names=("$@")
    readme=()
else
    names=()
    for file in "$LIVE"/scenarios/*.json; do
        [[ "$file" == *.expect.json ]] && continue
        names+=("$(basename "$file" .json)")
    done
    readme=(--readme "$ROOT/README.md")
fi

echo "== live: build (Maven, cargo)"
(cd "$LIVE" && mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt)
if [[ -z "${KAFKASIM_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --locked --quiet)
    KAFKASIM_BIN="$TARGET/release/kafkasim"
fi
CP="$LIVE/target/classes:$(cat "$LIVE/target/classpath.txt")"

for name in "${names[@]}"; do
    scenario="$LIVE/scenarios/$name.json"
    [[ -f "$scenario" ]] || { echo "no scenario $scenario" >&2; exit 2; }
    echo "== live: $name"
    rm -rf "${WORK:?}/$name" "${RESULTS:?}/$name"
    mkdir -p "$WORK/$name" "$RESULTS/$name"
    start=$SECONDS
    java -Xmx512m -XX:+UseSerialGC -cp "$CP" kafkasim.live.Live "$scenario" "$RESULTS/$name/live" "$WORK/$name" \
        2> "$WORK/$name/driver.log" || { tail -40 "$WORK/$name/driver.log" >&2; exit 1; }
    cleanup
    "$KAFKASIM_BIN" run "$scenario" --out "$RESULTS/$name/kafkasim" > "$WORK/$name/kafkasim.txt"
    echo "   real cluster and kafkasim done in $((SECONDS - start)) s"
done

python3 "$LIVE/compare.py" --scenarios "$LIVE/scenarios" --results "$RESULTS" "${readme[@]}" "${names[@]}"
