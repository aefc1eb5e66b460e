"""Benchmark of the ADP export and import, version by version, against the run's JSONL
export as a baseline measured in the same process.

A real multi-agent run is recorded first (graph colouring with its baseline, 16 agents,
E episodes). Then, interleaved R times: `export_jsonl` of the run (the baseline: every
event, no per-agent view), and `export_adp` in each ADP version (1.2.0 and 1.3.0 as one
JSONL file, 1.5.0 as a directory with `metadata.json`; each trajectory is built through
the version's pydantic models, which validate it), then `import_adp` of each. Medians are
printed, with trajectories per second and the ratio to the JSONL export.

    .venv/bin/python benchmarks/adp.py                   # 100 episodes
    .venv/bin/python benchmarks/adp.py --episodes 20 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import palaestra
from palaestra.runtime import Experiment, Job
from palaestra.store import ADP_VERSIONS, Store, export_adp, export_jsonl, import_adp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="palaestra-bench-adp-") as tmp:
        measure(Path(tmp), args.episodes, args.repeat)


def _target(folder: Path, version: str) -> Path:
    return folder / (f"adp-{version}" if version == "1.5.0" else f"adp-{version}.jsonl")


def measure(folder: Path, episodes: int, repeat: int) -> None:
    """Record the run under `folder`, then time the exports and imports (docstring)."""
    source = Store(folder / "source.db")
    experiment = Experiment(
        name="adp",
        jobs=[Job(env="graph.coloring", params={"n": 16, "num_tasks": episodes}, tasks="all")],
    )
    palaestra.run(experiment, store=source, run_id="big")
    events = export_jsonl(source, "big", folder / "run.jsonl")
    print(f"run: {episodes} episodes, {events:,} events")

    exports: dict[str, list[float]] = {v: [] for v in ("jsonl", *ADP_VERSIONS)}
    imports: dict[str, list[float]] = {v: [] for v in ADP_VERSIONS}
    counts: dict[str, int] = {}
    for i in range(repeat):
        started = time.perf_counter()
        export_jsonl(source, "big", folder / "run.jsonl")
        exports["jsonl"].append(time.perf_counter() - started)
        for version in ADP_VERSIONS:
            started = time.perf_counter()
            counts[version] = export_adp(source, "big", _target(folder, version), version=version)
            exports[version].append(time.perf_counter() - started)
            with Store(folder / f"import-{version}-{i}.db") as target:
                started = time.perf_counter()
                import_adp(target, _target(folder, version))
                imports[version].append(time.perf_counter() - started)
    source.close()

    baseline = statistics.median(exports["jsonl"])
    print(f"export_jsonl (baseline): {baseline * 1e3:.0f} ms")
    for version in ADP_VERSIONS:
        out = statistics.median(exports[version])
        back = statistics.median(imports[version])
        rate = counts[version] / out
        print(
            f"ADP {version}: {counts[version]} trajectories, export {out * 1e3:.0f} ms "
            f"({rate:,.0f}/s, {out / baseline:.2f} x export_jsonl), import {back * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
