#!/usr/bin/env bash
# Regenerates Kafka's expected assignments with Kafka's own Java code and fails if they differ
# from the committed vectors. Needs Java 17 and Maven; Maven fetches Kafka into ~/.m2.
# Usage: bash conformance/check.sh            (check)
#        bash conformance/check.sh --update   (rewrite conformance/vectors/*.jsonl)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
log="$(mktemp)"
if ! mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
classpath="target/classes:$(cat target/classpath.txt)"
if [[ "${1:-}" == "--update" ]]; then
    java -cp "$classpath" kafkasim.conformance.Harness vectors vectors
    echo "conformance: vectors regenerated in $here/vectors"
    exit 0
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
java -cp "$classpath" kafkasim.conformance.Harness vectors "$out"
status=0
for expected in "$out"/*.jsonl; do
    name="$(basename "$expected")"
    if ! cmp -s "$expected" "vectors/$name"; then
        echo "conformance: vectors/$name differs from Kafka's output (run: bash conformance/check.sh --update)" >&2
        diff <(head -c 100000 "vectors/$name" 2>/dev/null || true) <(head -c 100000 "$expected") | head -20 >&2 || true
        status=1
    fi
done
for committed in vectors/*.jsonl; do
    if [[ ! -e "$out/$(basename "$committed")" ]]; then
        echo "conformance: $committed is not produced by the harness any more" >&2
        status=1
    fi
done
if [[ $status -eq 0 ]]; then
    echo "conformance: committed vectors match Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' pom.xml)"
fi
exit $status
