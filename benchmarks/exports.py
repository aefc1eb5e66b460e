"""Benchmark of what a whole-or-nothing JSONL export costs: the trailer's SHA-256 and the
atomic write (temporary file, fsync, rename, directory fsync), against the same bytes
written plainly.

A real run is recorded first (graph colouring with its baseline, 16 agents, E episodes).
Then, interleaved R times on the same disk: `export_jsonl` to a path (digest, trailer,
`atomic_write`), and a hand-written export of the same records with `open(path, "w")`,
no digest, no fsync (what the export was before). Then `import_jsonl` of the file (which
checks the trailer), against hashing the file's bytes alone (the digest's share of it).
Medians are printed, and the ratios.

    .venv/bin/python benchmarks/exports.py                  # 200 episodes (~30 MB)
    .venv/bin/python benchmarks/exports.py --episodes 20 --repeat 3
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import palaestra
from palaestra.runtime import Experiment, Job
from palaestra.store import Store, export_jsonl, import_jsonl


def plain_export(store: Store, run_id: str, path: Path) -> None:
    """The export without trailer, digest or atomic write (the records are the same)."""
    run = store.get_run(run_id)
    assert run is not None
    with open(path, "w", encoding="utf-8", newline="\n") as fp:
        fp.write('{"type":"run","run":' + run.model_dump_json() + "}\n")
        for row in store.episodes(run_id):
            fp.write('{"type":"episode","episode":' + row.model_dump_json() + "}\n")
            texts = store._event_json(run_id, row.episode_id)
            fp.writelines('{"type":"event","event":' + text + "}\n" for text in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="palaestra-bench-exports-") as tmp:
        measure(Path(tmp), args.episodes, args.repeat)


def measure(folder: Path, episodes: int, repeat: int) -> None:
    """Record the run under `folder`, then time exports and imports (module docstring)."""
    source = Store(folder / "source.db")
    experiment = Experiment(
        name="exports",
        jobs=[
            Job(
                env="graph.coloring",
                params={"n": 16, "num_tasks": episodes},
                tasks="all",
            )
        ],
    )
    palaestra.run(experiment, store=source, run_id="big")
    events = export_jsonl(source, "big", folder / "whole.jsonl")
    size = (folder / "whole.jsonl").stat().st_size
    print(f"run: {episodes} episodes, {events:,} events, {size / 1e6:.1f} MB as JSONL")

    exports: dict[str, list[float]] = {"whole": [], "plain": []}
    imports: list[float] = []
    hashing: list[float] = []
    for i in range(repeat):
        started = time.perf_counter()
        export_jsonl(source, "big", folder / "whole.jsonl")
        exports["whole"].append(time.perf_counter() - started)
        started = time.perf_counter()
        plain_export(source, "big", folder / "plain.jsonl")
        exports["plain"].append(time.perf_counter() - started)
        target = Store(folder / f"import-{i}.db")
        started = time.perf_counter()
        result = import_jsonl(target, folder / "whole.jsonl")
        imports.append(time.perf_counter() - started)
        target.close()
        assert result.complete and result.episodes == episodes
        data = (folder / "whole.jsonl").read_bytes()
        started = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        hashing.append(time.perf_counter() - started)
    source.close()

    whole, plain = (statistics.median(exports[k]) for k in ("whole", "plain"))
    imported, hashed = statistics.median(imports), statistics.median(hashing)
    print(f"export, trailer + atomic write: {whole * 1e3:.1f} ms ({size / whole / 1e6:.0f} MB/s)")
    print(f"export, plain open(): {plain * 1e3:.1f} ms ({size / plain / 1e6:.0f} MB/s)")
    print(f"export ratio: {whole / plain:.2f} x plain")
    print(f"import, trailer checked: {imported * 1e3:.1f} ms")
    print(
        f"SHA-256 of the file alone: {hashed * 1e3:.1f} ms ({hashed / imported:.1%} of the import)"
    )


if __name__ == "__main__":
    main()
