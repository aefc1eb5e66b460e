"""The event store: runs, episodes and their event logs in SQLite, and their exports.

`Store` is what the runner writes to and every other part (check, replay, eval, train,
view) reads from. `export_jsonl` / `import_jsonl` move a run between stores as one
self-describing text file. The other exports (docs/exports.md) turn a run into the
formats other tools read: ADP trajectories (`export_adp` / `import_adp`), OpenTelemetry
GenAI spans (`export_otel`), chat-format SFT data (`export_sft`, `to_hf_dataset`) and
Parquet tables (`export_parquet`). One process writes a run at a time (its `Lease`);
`check_store` / `recover_store` check a store file and copy what a damaged one holds
into a new store (`palaestra doctor`, docs/store.md).
"""

from palaestra.store._adp import episode_to_adp, iter_adp
from palaestra.store._adp_import import adp_to_episodes, import_adp
from palaestra.store._adp_metadata import AdpDatasetMetadata
from palaestra.store._adp_read import read_adp, read_adp_dataset
from palaestra.store._adp_schema import (
    ADP_SCHEMA_VERSION,
    ADP_VERSIONS,
    Adp12Trajectory,
    Adp13Trajectory,
    Adp15Trajectory,
    AdpApiAction,
    AdpCodeAction,
    AdpMessageAction,
    AdpTextObservation,
    AdpTrajectory,
)
from palaestra.store._adp_write import export_adp
from palaestra.store._doctor import DoctorReport, check_store
from palaestra.store._exporters import (
    EXPORT_FORMATS,
    EXPORTERS,
    ExportFormat,
    exporter,
    formats_taking,
    register_exporter,
    run_exporter,
)
from palaestra.store._jsonl import JSONL_FORMAT_VERSION, export_jsonl
from palaestra.store._jsonl_import import JsonlImport, import_jsonl
from palaestra.store._lease import Lease
from palaestra.store._otel import emit_episode, episode_spans, export_otel
from palaestra.store._parquet import ParquetExport, export_parquet
from palaestra.store._reader import OUTCOMES, EpisodeFilter, NotFound, ReadOnlyStore
from palaestra.store._recover import recover_store
from palaestra.store._rows import (
    STORE_SCHEMA_VERSION,
    EpisodeRow,
    EpisodeSummary,
    RunRow,
)
from palaestra.store._salvage import TableReport
from palaestra.store._sft import episode_sft, export_sft, iter_sft, to_hf_dataset
from palaestra.store._sqlite import Store

__all__ = [
    "ADP_SCHEMA_VERSION",
    "ADP_VERSIONS",
    "EXPORTERS",
    "EXPORT_FORMATS",
    "JSONL_FORMAT_VERSION",
    "OUTCOMES",
    "STORE_SCHEMA_VERSION",
    "Adp12Trajectory",
    "Adp13Trajectory",
    "Adp15Trajectory",
    "AdpApiAction",
    "AdpCodeAction",
    "AdpDatasetMetadata",
    "AdpMessageAction",
    "AdpTextObservation",
    "AdpTrajectory",
    "DoctorReport",
    "EpisodeFilter",
    "EpisodeRow",
    "ExportFormat",
    "EpisodeSummary",
    "JsonlImport",
    "Lease",
    "NotFound",
    "ParquetExport",
    "ReadOnlyStore",
    "RunRow",
    "Store",
    "TableReport",
    "adp_to_episodes",
    "check_store",
    "emit_episode",
    "episode_sft",
    "episode_spans",
    "episode_to_adp",
    "export_adp",
    "export_jsonl",
    "export_otel",
    "export_parquet",
    "export_sft",
    "exporter",
    "formats_taking",
    "import_adp",
    "import_jsonl",
    "iter_adp",
    "iter_sft",
    "read_adp",
    "read_adp_dataset",
    "recover_store",
    "register_exporter",
    "run_exporter",
    "to_hf_dataset",
]
