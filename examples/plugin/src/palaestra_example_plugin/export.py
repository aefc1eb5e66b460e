"""An export format: ``palaestra export RUN --format example.ledger-csv``.

One CSV row per episode: its id, task, success and score. Installed, the entry point in
pyproject.toml names the function; without installing, ``--format
palaestra_example_plugin.export:ledger_csv`` names it by reference. An export format is
a function ``(store, run_id, output)``, where `output` is a path (``-o FILE``) or a text
stream (standard output), returning how many records it wrote.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any


def ledger_csv(store: Any, run_id: str, output: Path | IO[str]) -> int:
    """One CSV row per episode: episode, task, success, score."""
    rows = store.episodes(run_id)
    out = output.open("w", newline="") if isinstance(output, Path) else output
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["episode", "task", "success", "score"])
        for row in rows:
            writer.writerow([row.episode_id, row.task, row.success, row.score])
    finally:
        if out is not output:
            out.close()
    return len(rows)
