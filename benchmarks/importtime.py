"""Benchmark of import time: `import palaestra`, `palaestra --help`, and, where they are
installed, `import inspect_ai` and `import langgraph` for comparison.

Each case runs in fresh interpreters (nothing cached in the process; the operating
system's file cache is warm after the first run): wall time of the whole interpreter,
median of `--repeat` runs, against a bare `python -c pass`; then once under
`python -X importtime`, whose top modules by cumulative time are printed. Ratios are to
`import palaestra`.

    .venv/bin/python benchmarks/importtime.py
    .venv/bin/python benchmarks/importtime.py --repeat 20 --top 15
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time

HELP = (
    "import sys, contextlib, io\nsys.argv = ['palaestra', '--help']\n"
    "from palaestra.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
    "    main()"
)

CASES: dict[str, tuple[str, str]] = {
    "python -c pass": ("", "pass"),
    "import palaestra": ("palaestra", "import palaestra"),
    "palaestra --help": ("palaestra", HELP),
    "import palaestra.runtime": ("palaestra", "import palaestra.runtime"),
    "import inspect_ai": ("inspect_ai", "import inspect_ai"),
    "import langgraph": ("langgraph", "import langgraph.graph"),
}


def wall(code: str, repeat: int) -> float:
    """Median seconds of a fresh interpreter running `code`."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def top_modules(code: str, top: int) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, module) of the `top` slowest imports under -X importtime."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], check=True, capture_output=True
    ).stderr.decode()
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), int(own), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs per case (median)")
    parser.add_argument("--top", type=int, default=10, help="modules shown per case")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {args.repeat} fresh interpreters per case\n")
    measured: dict[str, float] = {}
    for label, (module, code) in CASES.items():
        if module and importlib.util.find_spec(module) is None:
            print(f"{label:<26} not installed\n")
            continue
        measured[label] = wall(code, args.repeat)
        print(f"{label:<26} {measured[label] * 1000:7.1f} ms wall (median)")
        if module:
            print(f"  -X importtime, top {args.top} by cumulative time:")
            for cumulative, own, name in top_modules(code, args.top):
                print(f"    {cumulative / 1000:8.1f} ms  (self {own / 1000:6.1f})  {name}")
        print()
    bare = measured["python -c pass"]
    ours = measured["import palaestra"]
    print(f"{'':<26} {'wall':>9} {'over bare':>10} {'× import palaestra':>19}")
    for label, seconds in measured.items():
        print(
            f"{label:<26} {seconds * 1000:6.1f} ms {(seconds - bare) * 1000:7.1f} ms"
            f" {seconds / ours:18.2f}"
        )


if __name__ == "__main__":
    main()
