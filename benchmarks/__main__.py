"""``python -m benchmarks NAME [--json] [--repeat K] [...]``: run one benchmark, print its JSON last.

With --repeat K the benchmark runs K times in the same process and the printed object holds the
median of each numeric field (and ``runs``: the individual results), since these machines are noisy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import statistics
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def median_of(runs: list[dict]) -> dict:
    out: dict = {}
    for key, first in runs[0].items():
        values = [r.get(key) for r in runs]
        if isinstance(first, bool) or not all(isinstance(v, (int, float)) for v in values):
            out[key] = first
        else:
            out[key] = statistics.median(values)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("name", choices=names + ["list"], help="benchmark to run ('list' prints them)")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument("--repeat", type=int, default=1, help="run K times, report medians")
    pre, _ = parser.parse_known_args(argv)
    if pre.name == "list":
        print("\n".join(names))
        return 0
    module = importlib.import_module(f"benchmarks.{pre.name}")
    if hasattr(module, "add_arguments"):
        module.add_arguments(parser)
    args = parser.parse_args(argv)
    runs = []
    for i in range(max(1, args.repeat)):
        result = module.run(args)
        runs.append(result)
        if not args.json:
            print(f"run {i + 1}: {json.dumps(result)}", file=sys.stderr)
    final = dict(median_of(runs)) if len(runs) > 1 else dict(runs[0])
    final = {"benchmark": pre.name, **final}
    if len(runs) > 1:
        final["repeat"] = len(runs)
        final["runs"] = runs
    print(json.dumps(final))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
