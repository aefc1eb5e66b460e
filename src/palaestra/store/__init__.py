"""The event store: runs, episodes and their event logs in SQLite, with JSONL export.

`Store` is what the runner writes to and every other part (check, replay, eval, train,
view) reads from. `export_jsonl` / `import_jsonl` move a run between stores as one
self-describing text file.
"""

from palaestra.store._jsonl import export_jsonl, import_jsonl
from palaestra.store._rows import (
    STORE_SCHEMA_VERSION,
    EpisodeRow,
    EpisodeSummary,
    RunRow,
)
from palaestra.store._sqlite import Store

__all__ = [
    "STORE_SCHEMA_VERSION",
    "EpisodeRow",
    "EpisodeSummary",
    "RunRow",
    "Store",
    "export_jsonl",
    "import_jsonl",
]
