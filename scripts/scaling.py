#!/usr/bin/env python3
"""The README's scaling table: bench-throughput shortened to 30 s simulated (crash at 10 s,
restart at 16 s, join at 20 s), then each of record rate, partitions, members and simulated
duration doubled alone, and a steady-state copy (no crash, no join) at 20 s and 40 s.

Usage: python3 scripts/scaling.py [KAFKASIM_BINARY]   (default target/release/kafkasim)

Each variant runs in its own process with `--stats`; the table gives events, wall time, the
process's CPU time (user + system) and peak resident memory. Nothing is written to the repo.
"""

import copy
import json
import os
import re
import resource
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATS = re.compile(r"stats: wall ([0-9.]+) s, events (\d+), .* peak memory ([0-9.]+) MiB")


def shortened(base):
    scenario = copy.deepcopy(base)
    scenario["duration_ms"] = 30_000
    times = {"broker-crash": 10_000, "broker-restart": 16_000, "consumer-join": 20_000}
    for step in scenario["timeline"]:
        step["at_ms"] = times[step["action"]]
    return scenario


def variants(base):
    short = shortened(base)
    rate = copy.deepcopy(short)
    rate["producers"][0]["rate_per_sec"] *= 2
    partitions = copy.deepcopy(short)
    partitions["topics"][0]["partitions"] *= 2
    members = copy.deepcopy(short)
    members["consumer_groups"][0]["members"] *= 2
    duration = copy.deepcopy(short)
    duration["duration_ms"] *= 2
    steady = copy.deepcopy(short)
    steady["duration_ms"] = 20_000
    steady["timeline"] = []
    steady_long = copy.deepcopy(steady)
    steady_long["duration_ms"] *= 2
    return [
        ("baseline: 50,000 records/s, 64 partitions, 8 members, 30 s", short),
        ("record rate doubled (100,000 records/s)", rate),
        ("partitions doubled (128)", partitions),
        ("members doubled (16)", members),
        ("duration doubled (60 s)", duration),
        ("steady state (no crash, no join), 20 s", steady),
        ("steady state, duration doubled (40 s)", steady_long),
    ]


def run(binary, scenario, work):
    path = os.path.join(work, "scenario.json")
    with open(path, "w") as file:
        json.dump(scenario, file)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [binary, "run", path, "--stats", "--out", os.path.join(work, "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    match = STATS.search(out.stdout + out.stderr)
    if match is None:
        sys.exit(f"no stats line in the output of {binary}")
    wall_s, events, memory_mib = float(match[1]), int(match[2]), float(match[3])
    return events, wall_s, cpu_s, memory_mib


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/kafkasim")
    with open(os.path.join(ROOT, "scenarios/bench-throughput.json")) as file:
        base = json.load(file)
    print("| variant | events | wall | CPU | peak memory |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for name, scenario in variants(base):
            events, wall_s, cpu_s, memory_mib = run(binary, scenario, work)
            print(
                f"| {name} | {events / 1e6:.2f} M | {wall_s:.1f} s | {cpu_s:.1f} s "
                f"| {memory_mib:.0f} MiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
