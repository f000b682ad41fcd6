"""How fast does `hub` start? Prints wall-clock medians (seconds) as JSON.

    .venv/bin/python benchmarks/startup.py [--runs 21]

Each command runs once to warm the caches (the OS's, Python's bytecode, plughub's
entry-point and command-listing caches), then ``--runs`` rounds, each round running
every command once (interleaved: a load that comes and goes on a shared machine
weighs on the floor and the commands alike); ``python -c pass``, with the interpreter
the ``hub`` script runs (its ``#!`` line), is the floor that no Python CLI can beat.
stdout is not a terminal here, so ``hub list`` prints plain columns (a terminal gets
rich's table). Goals (issue 19), as ratios to that floor measured in the same run:
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
HUB_PYTHON = (BIN / "hub").read_text().splitlines()[0].removeprefix("#!").strip()  # what `hub` itself runs
COMMANDS = {
    "python -c pass": [HUB_PYTHON, "-c", "pass"],
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


def once(command: list[str], env: dict) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run."""
    start, start_cpu = time.perf_counter(), children_cpu()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - start, children_cpu() - start_cpu


def measure(runs: int, write_bytecode: bool) -> dict[str, tuple[list[float], list[float]]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["COLUMNS"] = "100"  # the same table width whatever the terminal
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    measured = {name: ([], []) for name in COMMANDS}
    for command in COMMANDS.values():
        once(command, env)  # warms the caches
    for _ in range(runs):
        for name, command in COMMANDS.items():
            wall, cpu = once(command, env)
            measured[name][0].append(wall)
            measured[name][1].append(cpu)
    return measured


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
    # the same, round by round (each command beside the floor measured just before it), then the median
    paired = {name: round(statistics.median(c / f for c, f in zip(cached[name][0], cached["python -c pass"][0])), 2)
              for name in RATIO_GOALS}
    print(json.dumps({
        "runs": args.runs,
        "median_s": medians,
        "median_s_no_bytecode_cache": summary(measure(args.runs, write_bytecode=False), statistics.median),
        "best_s": summary(cached, min),  # the least disturbed run, telling on a busy machine
        # CPU time hardly depends on what else runs: on an idle machine, wall ~ CPU for these
        "median_cpu_s": summary(cached, statistics.median, which=1),
        "budget_s": BUDGET,
        "within_budget": all(medians[name] <= limit for name, limit in BUDGET.items()),
        "ratio_to_python": ratios, "ratio_to_python_paired": paired, "ratio_goals": RATIO_GOALS,
        "ratio_goals_met": {name: ratios[name] <= goal for name, goal in RATIO_GOALS.items()},
        "machine": machine.report(None),
        "cpus": os.cpu_count(), "floor_interpreter": HUB_PYTHON,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before, after
    }, indent=2))


if __name__ == "__main__":
    main()
