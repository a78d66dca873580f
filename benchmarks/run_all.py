"""Run every Rasad benchmark with its default sizes, one after the other (`make bench`).

Each runs in its own process with its own database (see benchmarks/README.md). `--quick`
runs small sizes for a smoke check (figures not comparable with the targets).

    .venv/bin/python benchmarks/run_all.py [--quick]
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = {
    "intake": ([], ["--requests", "300", "--warmup", "50"]),
    "channels": ([], ["--requests", "300", "--warmup", "50"]),
    "desk": ([], ["--rounds", "10"]),
    "clustering": ([], ["--max", "20000", "--samples", "100"]),
    "route_quality": (["--budget-s", "5"], ["--fast", "--limit", "6"]),
    "route_quality_fast": (["--fast"], ["--fast", "--limit", "3"]),
    "road_matrix": ([], ["--points", "200", "--depots", "10", "--compare", "50",
                         "--baseline-pairs", "50", "--routes", "10"]),
    "city_dispatch": ([], ["--incidents", "200", "--crews", "10"]),
    "snow_coverage": ([], ["--incidents", "5"]),
    "console": ([], ["--sizes", "2000", "--loads", "2", "--moves", "10", "--reports", "10"]),
    "stats": ([], ["--reports", "20000", "--days", "60", "--samples", "5"]),
    "alerts": ([], ["--subscribers", "5000"]),
    "plow_matching": ([], ["--plows", "4", "--hours", "2"]),
}
# Entries that run another entry's script with other arguments.
SCRIPTS = {"route_quality_fast": "route_quality"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke check")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append",
                        help="run only this benchmark (repeatable)")
    args = parser.parse_args()
    failed = []
    for name, (full, quick) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        script = SCRIPTS.get(name, name)
        command = [sys.executable, str(HERE / f"{script}.py"), *(quick if args.quick else full)]
        print(f"\n$ {' '.join(command)}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(command, check=False).returncode
        print(f"({name}: {time.perf_counter() - started:.0f} s, exit {code})", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
