#!/usr/bin/env python3
"""Times one benchmark command on two builds in turn: an earlier commit and the working tree.

This VM's speed swings by up to 2x between runs minutes apart, so a change is measured by
alternating the two builds, several rounds, and comparing what each round gives side by side.

    python3 Benchmarks/compare_builds.py BASE_REV [--rounds 3] [--column N] [--key-cells K] -- COMMAND ARGS...

    python3 Benchmarks/compare_builds.py HEAD~1 -- primitives --batch 1 --only conv2 --python /nonexistent
    python3 Benchmarks/compare_builds.py HEAD~1 --key-cells 2 -- inference --batches 1

BASE_REV is built in a git worktree under /tmp (kept and reused for that commit; `git worktree list`
shows it, `git worktree remove` removes it), the working tree in place; both in Release. Each round runs
`dotnet Benchmarks/bin/Release/net10.0/FerEngine.Benchmarks.dll COMMAND ARGS` on each build, the base
first in odd rounds and the working tree first in even ones. Every Markdown table row the command
prints is keyed by its first K cells (default: the cells before its first number) and read at column
N (1-based, default: the first number after the key); the summary gives each row's values round by
round, the ratio of the medians, current / base, and the median of the rounds' own ratios (each round
runs the two builds back to back, so its ratio is the less exposed to the VM's slower phases).
Before each round it runs the working tree's `cross-core` benchmark and prints its ratio by round: near
0.1 when this VM's two cores hand cache lines to each other ten times slower than a core reuses its own,
near 1 when they do not. The convolutions often ran slow at 0.1, though not always: a hint for reading
rounds that disagree, not a verdict.

An effect of a few percent needs short runs and many rounds: one case at a time, as in
`-- primitives --only 'conv4 forward' --repeats 5` with `--rounds 10` (about 1.5 minutes). A command
that times many cases in one run spans the VM's phases, and its per-case ratios swing by 10 % or more.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_DLL = os.path.join("Benchmarks", "bin", "Release", "net10.0", "FerEngine.Benchmarks.dll")
NUMBER = re.compile(r"^(-?[\d,]*\.?\d+) ?(x|%)?$")   # 12.5, 1,234, 0.89x, 67 %


def run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"compare_builds: `{' '.join(command)}` in {cwd} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")
    return result.stdout


def build_base(revision):
    commit = run(["git", "rev-parse", "--verify", revision + "^{commit}"], REPOSITORY).strip()
    folder = f"/tmp/ferengine-compare-{commit[:12]}"
    if not os.path.isdir(folder):
        run(["git", "worktree", "add", "--detach", folder, commit], REPOSITORY)
    run(["dotnet", "build", "Benchmarks", "-c", "Release", "-v", "quiet"], folder)
    return folder, commit[:12]


def phase():
    """The cross-core benchmark's other / own ratio, the median of its buffer sizes."""
    output = run(["dotnet", BENCHMARKS_DLL, "cross-core"], REPOSITORY)
    return statistics.median(table_values(output, 1, 4).values())


def table_values(output, key_cells, column):
    """{row key: value} for every Markdown table row whose chosen cell is a number."""
    values = {}
    for line in output.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [cell.strip().strip("*") for cell in line.strip().strip("|").split("|")]
        keys = key_cells or next((i for i, cell in enumerate(cells) if NUMBER.match(cell)), len(cells))
        at = column - 1 if column else keys
        if keys == 0 or at >= len(cells) or not NUMBER.match(cells[at]):
            continue
        values[", ".join(cells[:keys])] = float(NUMBER.match(cells[at]).group(1).replace(",", ""))
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], usage="%(prog)s BASE_REV [--rounds R] [--column N] [--key-cells K] -- COMMAND ARGS...")
    parser.add_argument("base", help="the commit to compare the working tree with (HEAD, HEAD~1, a hash)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each build, alternated (default 3)")
    parser.add_argument("--column", type=int, default=0, help="the table column to compare, 1-based (default: the first number after the key)")
    parser.add_argument("--key-cells", type=int, default=0, help="cells that name a row (default: those before its first number)")
    arguments = sys.argv[1:]
    split = arguments.index("--") if "--" in arguments else len(arguments)
    options = parser.parse_args(arguments[:split])
    command = arguments[split + 1:]
    if not command or options.rounds < 1:
        parser.error("give at least one round, and the benchmark command after --")
    if options.column < 0 or options.key_cells < 0:
        parser.error("--column and --key-cells count cells from 1 (0: the default)")

    base_folder, base_name = build_base(options.base)
    run(["dotnet", "build", "Benchmarks", "-c", "Release", "-v", "quiet"], REPOSITORY)
    builds = [(f"base {base_name}", base_folder), ("working tree", REPOSITORY)]
    results = {name: [] for name, _ in builds}
    phases = []
    for round_number in range(1, options.rounds + 1):
        phases.append(phase())
        # base first in odd rounds, the working tree first in even ones: a VM that speeds up or slows
        # down over the run then favours neither build
        for name, folder in (builds if round_number % 2 else builds[::-1]):
            print(f"round {round_number}: {name}", file=sys.stderr, flush=True)
            output = run(["dotnet", BENCHMARKS_DLL, *command], folder)
            results[name].append(table_values(output, options.key_cells, options.column))

    rows = [key for key in results[builds[1][0]][0] if all(key in r for rs in results.values() for r in rs)]
    if not rows:
        sys.exit("compare_builds: no table row with a number came out of both builds in every round")
    print(f"`{' '.join(command)}`, {options.rounds} rounds, base {base_name} and the working tree in turn (base first in odd rounds)\n")
    print("| row | base, by round | working tree, by round | current / base (medians) | current / base (median of the rounds' ratios) |")
    print("|---|---|---|---:|---:|")
    for key in rows:
        base_values = [r[key] for r in results[builds[0][0]]]
        current_values = [r[key] for r in results[builds[1][0]]]
        base_median = statistics.median(base_values)
        ratio = statistics.median(current_values) / base_median if base_median else float("nan")
        round_ratios = [current / base for base, current in zip(base_values, current_values) if base]
        round_ratio = statistics.median(round_ratios) if round_ratios else float("nan")
        print(f"| {key} | {', '.join(f'{v:g}' for v in base_values)} | {', '.join(f'{v:g}' for v in current_values)} | {ratio:.3f} | {round_ratio:.3f} |")
    print(f"\n`cross-core` before each round (other / own): {', '.join(f'{p:.2f}' for p in phases)} "
          "(near 0.1: the two cores hand cache lines over slowly; near 1: they do not)")


if __name__ == "__main__":
    main()
