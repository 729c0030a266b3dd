#!/usr/bin/env python3
"""Compares the real cluster's metrics.json with kafkasim's, figure by figure.

Each scenario NAME.json has NAME.expect.json:
  {"figures": [{"figure": "producer.records-per-request-avg", "tolerance": 0.15}, ...]}
A figure is a dotted path into metrics.json; a path through the `rebalances` list gives the list
of that field over the rebalances (optionally only those with start_ms >= "after_ms");
"explained" (a short reason) marks a known difference that README "Model and its limits"
explains: shown, not failed. "minus_ms" subtracts a time (e.g. a crash's at_ms, for the pause after it); "label" names the row.
Tolerance: "exact" (equal), a number t (kafkasim/real within 1 ± t; both 0 counts as equal), or
"info" (shown, not judged). Prints a table; with --readme, writes it between the Fidelity markers.
Exit 1 when a judged figure is out of tolerance.
"""
import argparse
import json
import os
import sys

BEGIN = "<!-- fidelity:begin (written by conformance/live/run.sh) -->"
END = "<!-- fidelity:end -->"


def lookup(metrics, path, after_ms):
    node = metrics
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if isinstance(node, list):
            rest = ".".join(parts[i:])
            rows = [r for r in node if after_ms is None or r.get("start_ms", 0) >= after_ms]
            return [lookup(r, rest, None) for r in rows]
        # Keys contain dots (group ids do not, but figure names do not either): greedy match.
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if isinstance(node, dict) and key in node:
                node = node[key]
                i = j
                break
        else:
            return None
    if isinstance(node, list) and after_ms is not None:
        node = [r for r in node if r.get("start_ms", 0) >= after_ms]
    return node


def shift(value, minus):
    if isinstance(value, list):
        return [shift(v, minus) for v in value]
    return None if value is None else round(value - minus, 3)


def fmt(value):
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def judge(real, sim, tolerance):
    if real is None or sim is None:
        return "missing", ""
    numeric_lists = (isinstance(real, list) and isinstance(sim, list) and len(real) == len(sim)
                     and all(isinstance(v, (int, float)) for v in real + sim))
    if numeric_lists and tolerance not in ("exact", "info"):
        verdicts = [judge(r, s, tolerance) for r, s in zip(real, sim)]
        ratio = "[" + ", ".join(v[1] for v in verdicts) + "]"
        return ("ok" if all(v[0] == "ok" for v in verdicts) else "DIFFERS"), ratio
    if isinstance(real, list) or isinstance(sim, list) or tolerance == "exact":
        ratio = ""
        if not isinstance(real, list) and isinstance(real, (int, float)) and real:
            ratio = f"{sim / real:.3f}"
        if tolerance == "info":
            return "info", ratio
        return ("ok" if real == sim else "DIFFERS"), ratio
    if real == 0 and sim == 0:
        return ("info" if tolerance == "info" else "ok"), "1.000"
    ratio = sim / real if real else float("inf")
    if tolerance == "info":
        return "info", f"{ratio:.3f}"
    return ("ok" if abs(ratio - 1.0) <= float(tolerance) else "DIFFERS"), f"{ratio:.3f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--readme")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    rows = []
    failed = False
    for name in args.names:
        with open(os.path.join(args.scenarios, name + ".expect.json")) as f:
            expect = json.load(f)
        with open(os.path.join(args.results, name, "live", "metrics.json")) as f:
            real_metrics = json.load(f)
        with open(os.path.join(args.results, name, "kafkasim", "metrics.json")) as f:
            sim_metrics = json.load(f)
        for spec in expect["figures"]:
            after = spec.get("after_ms")
            real = lookup(real_metrics, spec["figure"], after)
            sim = lookup(sim_metrics, spec["figure"], after)
            minus = spec.get("minus_ms")
            if minus is not None:
                real = shift(real, minus)
                sim = shift(sim, minus)
            verdict, ratio = judge(real, sim, spec["tolerance"])
            if verdict == "DIFFERS" and spec.get("explained"):
                # A known difference, explained in README "Model and its limits": shown, not failed.
                verdict = "differs: " + spec["explained"]
            failed |= verdict in ("DIFFERS", "missing")
            tol = spec["tolerance"]
            tol_text = "exact" if tol == "exact" else ("not judged" if tol == "info" else f"±{round(float(tol) * 100)}%")
            figure = spec.get("label") or (spec["figure"] + (f" (rebalances from {after / 1000:g} s)" if after is not None else ""))
            rows.append((name, figure, fmt(real), fmt(sim), ratio, tol_text, verdict))
    header = "| scenario | figure | real Kafka | kafkasim | ratio | tolerance | verdict |\n|---|---|---|---|---|---|---|\n"
    table = header + "".join("| " + " | ".join(r) + " |\n" for r in rows)
    print(table)
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        start = text.index(BEGIN) + len(BEGIN)
        end = text.index(END)
        text = text[:start] + "\n" + table + text[end:]
        with open(args.readme, "w") as f:
            f.write(text)
        print(f"wrote the Fidelity table to {args.readme}")
    if failed:
        print("live: some figures are out of tolerance (DIFFERS) or missing", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
