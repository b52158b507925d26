"""How long ``import registry_core`` takes in a fresh interpreter, against ``pass``.

    python benchmarks/import_bench.py [--runs 15] [--module registry_core] [--json FILE]

Runs ``python -c "import registry_core"`` and ``python -c "pass"`` alternately, each in a
fresh interpreter (the same ``python`` as this script), and takes the median wall time of
each. The import costs median(import) - median(pass); the goal is under 150 ms.

This is a benchmark, not a test: it prints figures and ratios measured within one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GOAL_MS = 150.0


def wall(code: str) -> float:
    """Seconds for a fresh interpreter to run ``code`` and exit."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description="Time `import registry_core` against `pass`.")
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    parser.add_argument("--module", default="registry_core", help="module to import")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    import_code = f"import {args.module}"

    # One untimed run of each first: compiles .pyc files and warms the page cache.
    wall("pass")
    wall(import_code)
    empty: list[float] = []
    loaded: list[float] = []
    for _ in range(args.runs):  # alternate, so noise on the shared machine hits both alike
        empty.append(wall("pass"))
        loaded.append(wall(import_code))

    pass_ms = statistics.median(empty) * 1000
    total_ms = statistics.median(loaded) * 1000
    import_ms = total_ms - pass_ms
    ok = import_ms < GOAL_MS
    result: dict[str, Any] = {
        "benchmark": "import_bench",
        "command": "python benchmarks/import_bench.py " + shlex.join(argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "python": sys.executable,
        "module": args.module,
        "runs": args.runs,
        "pass_median_ms": pass_ms,
        "import_total_median_ms": total_ms,
        "import_ms": import_ms,
        "ratio_total_to_pass": total_ms / pass_ms,
        "pass_runs_ms": [t * 1000 for t in empty],
        "import_runs_ms": [t * 1000 for t in loaded],
        "goals": [
            {
                "goal": f"import {args.module} < {GOAL_MS:g} ms (median import - median pass)",
                "figure": import_ms,
                "unit": "ms",
                "status": "PASS" if ok else "FAIL",
            }
        ],
    }

    print()
    print(f"import_bench  {sys.executable}  runs={args.runs} each, alternating")
    print(f"  {result['date']}  python {platform.python_version()}  cpus={os.cpu_count()}")
    print()
    rows = [
        ("python -c 'pass'", f"median {pass_ms:8.1f} ms"),
        (f"python -c '{import_code}'", f"median {total_ms:8.1f} ms"),
        ("import time (difference)", f"       {import_ms:8.1f} ms"),
        ("ratio total / pass", f"       {total_ms / pass_ms:8.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print()
    print("goals")
    for goal in result["goals"]:
        print(f"  {goal['status']:<4}  {goal['goal']}  measured {goal['figure']:.1f} ms")
    print()
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
