"""How fast does `hub` start? Prints wall-clock medians (seconds) as JSON.

    .venv/bin/python benchmarks/startup.py [--runs 21]

Each command runs once to warm the caches (the OS's, Python's bytecode, plughub's
entry-point cache), then ``--runs`` times; ``python -c pass`` is the floor that no
Python CLI can beat. Goals (issue 19), as ratios to that floor measured in the same run:
``hub --help`` <= 3x and ``hub list`` <= 5x ``python -c pass`` (the budgets of issue 2,
0.10 s and 0.25 s, are kept beside them).

``median_s`` is what a user sees (bytecode cached in __pycache__, as after any pip
install); ``median_s_no_bytecode_cache`` runs with PYTHONDONTWRITEBYTECODE=1, as some
sandboxes do, so the core's sources (an editable install) are compiled at every start.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "hub --help": [str(BIN / "hub"), "--help"],
    "hub list": [str(BIN / "hub"), "list"],
    "hub list --json": [str(BIN / "hub"), "list", "--json"],
    "hub plugins": [str(BIN / "hub"), "plugins"],
}
BUDGET = {"hub --help": 0.10, "hub list": 0.25}
RATIO_GOALS = {"hub --help": 3.0, "hub list": 5.0}  # x python -c pass


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def times(command: list[str], runs: int, env: dict) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (user + system) seconds of each run."""
    wall, cpu = [], []
    for _ in range(runs + 1):
        start, start_cpu = time.perf_counter(), children_cpu()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        wall.append(time.perf_counter() - start)
        cpu.append(children_cpu() - start_cpu)
    return wall[1:], cpu[1:]  # the first run warms the caches


def measure(runs: int, write_bytecode: bool) -> dict[str, tuple[list[float], list[float]]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["COLUMNS"] = "100"  # the same table width whatever the terminal
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return {name: times(command, runs, env) for name, command in COMMANDS.items()}


def summary(measured: dict, pick, which: int = 0) -> dict[str, float]:
    return {name: round(pick(pair[which]), 4) for name, pair in measured.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.machine import Machine

    machine = Machine.now()
    load_before = os.getloadavg()[0]
    cached = measure(args.runs, write_bytecode=True)
    medians = summary(cached, statistics.median)
    floor = medians["python -c pass"]
    ratios = {name: round(medians[name] / floor, 2) for name in RATIO_GOALS}
    print(json.dumps({
        "runs": args.runs,
        "median_s": medians,
        "median_s_no_bytecode_cache": summary(measure(args.runs, write_bytecode=False), statistics.median),
        "best_s": summary(cached, min),  # the least disturbed run, telling on a busy machine
        # CPU time hardly depends on what else runs: on an idle machine, wall ~ CPU for these
        "median_cpu_s": summary(cached, statistics.median, which=1),
        "budget_s": BUDGET,
        "within_budget": all(medians[name] <= limit for name, limit in BUDGET.items()),
        "ratio_to_python": ratios, "ratio_goals": RATIO_GOALS,
        "ratio_goals_met": {name: ratios[name] <= goal for name, goal in RATIO_GOALS.items()},
        "machine": machine.report(None),
        "cpus": os.cpu_count(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
    }, indent=2))


if __name__ == "__main__":
    main()
