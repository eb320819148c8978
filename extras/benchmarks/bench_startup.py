"""Start-up cost of ``import rcdm`` and ``rcdm --help`` against a bare Python start, in one run.

Each command runs ``--repeat`` times in a fresh interpreter; the best wall time is reported (start-up is what
a user waits for on every CLI call and what R pays at ``reticulate::import("rcdm")``). Target: ``rcdm --help``
under 0.3 s. The lazy package root (``rcdm/__init__.py``) is what keeps it there: no driver, pandas or pyarrow
is imported until a function that needs it runs.

    python extras/benchmarks/bench_startup.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "import rcdm": [sys.executable, "-c", "import rcdm"],
    "rcdm --help": [sys.executable, "-m", "rcdm", "--help"],
    "rcdm etl --help": [sys.executable, "-m", "rcdm", "etl", "--help"],
    "import rcdm; rcdm.connect (loads the db layer)": [sys.executable, "-c", "import rcdm; rcdm.connect"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    best = {}
    for name, cmd in COMMANDS.items():
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
        best[name] = min(times)
    base = best["python -c pass (baseline)"]
    for name, seconds in best.items():
        print(f"{name:<48} {seconds * 1000:8.1f} ms  {seconds / base:5.1f}x baseline")


if __name__ == "__main__":
    main()
