"""Parquet export of a run's events and episodes, for analytics (pandas, DuckDB, Polars).

`events.parquet`, one row per event, in episode start order then seq:

| column | type | from |
|---|---|---|
| run_id, episode_id | string | the run, `Event.episode_id` |
| seq, step, parent | int64 (parent nullable) | `Event` |
| agent, kind | string | `Event` |
| time, duration_s | float64 | `Event` (wall clock) |
| payload | string | the payload as compact JSON |
| model | string | `model_request.model`, `model_response.model` |
| input_tokens, output_tokens | int64 | `model_response.usage` (episode totals: episodes table) |
| cost_usd | float64 | the same usage |
| tool_name, tool_call_id | string | `tool_call`, `tool_result`; an `action`'s first tool call |
| is_error | bool | `tool_result.is_error`; a failed `model_response` |
| reward | float64 | `env_step`: sum of the agents' rewards |
| score, success | float64, bool | `score` |

`episodes.parquet`: the columns of `EpisodeRow` (agents as a list of strings).

Rows are streamed from SQLite and written in row groups of `batch_size`: memory stays
bounded by one batch whatever the size of the run. Needs `pip install 'palaestra[parquet]'`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaestra.core import UserError, atomic_path

_EVENT_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "string"),
    ("episode_id", "string"),
    ("seq", "int64"),
    ("step", "int64"),
    ("agent", "string"),
    ("kind", "string"),
    ("parent", "int64"),
    ("time", "float64"),
    ("duration_s", "float64"),
    ("payload", "string"),
    ("model", "string"),
    ("input_tokens", "int64"),
    ("output_tokens", "int64"),
    ("cost_usd", "float64"),
    ("tool_name", "string"),
    ("tool_call_id", "string"),
    ("is_error", "bool"),
    ("reward", "float64"),
    ("score", "float64"),
    ("success", "bool"),
]

_EPISODE_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "string"),
    ("episode_id", "string"),
    ("env", "string"),
    ("task", "string"),
    ("seed", "int64"),
    ("epoch", "int64"),
    ("agents", "list<string>"),
    ("status", "string"),
    ("outcome", "string"),
    ("reason", "string"),
    ("score", "float64"),
    ("success", "bool"),
    ("total_reward", "float64"),
    ("steps", "int64"),
    ("n_events", "int64"),
    ("input_tokens", "int64"),
    ("output_tokens", "int64"),
    ("wall_s", "float64"),
    ("hash", "string"),
    ("error", "string"),
    ("started_at", "float64"),
    ("finished_at", "float64"),
]


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise UserError(
            "the Parquet export needs pyarrow: pip install 'palaestra[parquet]'"
        ) from None
    return pyarrow


def _schema(pa: Any, columns: list[tuple[str, str]]) -> Any:
    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "list<string>": pa.list_(pa.string()),
    }
    return pa.schema([(name, types[kind]) for name, kind in columns])


def event_row(run_id: str, text: str) -> dict[str, Any]:
    """The flattened row of one stored event (its JSON text)."""
    event = json.loads(text)
    payload = event["payload"]
    kind = event["kind"]
    row: dict[str, Any] = {
        "run_id": run_id,
        "episode_id": event["episode_id"],
        "seq": event["seq"],
        "step": event["step"],
        "agent": event["agent"],
        "kind": kind,
        "parent": event.get("parent"),
        "time": event.get("time", 0.0),
        "duration_s": event.get("duration_s", 0.0),
        "payload": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
    }
    usage = payload.get("usage") if kind == "model_response" else None
    if usage:
        row["input_tokens"] = usage.get("input_tokens")
        row["output_tokens"] = usage.get("output_tokens")
        row["cost_usd"] = usage.get("cost_usd")
    if kind == "model_request":
        row["model"] = payload.get("model")
    elif kind == "model_response":
        row["model"] = payload.get("model")
        row["is_error"] = payload.get("error") is not None
    elif kind == "tool_call":
        row["tool_name"] = payload["call"]["name"]
        row["tool_call_id"] = payload["call"]["id"]
    elif kind == "tool_result":
        row["tool_name"] = payload.get("name")
        row["tool_call_id"] = payload.get("call_id")
        row["is_error"] = bool(payload.get("is_error"))
    elif kind == "action":
        calls = payload["action"].get("tool_calls") or []
        if calls:
            row["tool_name"] = calls[0]["name"]
            row["tool_call_id"] = calls[0]["id"]
    elif kind == "env_step":
        row["reward"] = float(sum(payload.get("rewards", {}).values()))
    elif kind == "score":
        row["score"] = payload.get("value")
        row["success"] = payload.get("success")
    return row


def _event_texts(store: Any, run_id: str, fetch: int) -> Iterator[str]:
    """The stored JSON of every event of the run, streamed with a cursor."""
    with store._lock:
        store._flush_locked()
    cursor = store._db.execute(
        "SELECT ev.json FROM events AS ev JOIN episodes AS ep ON ev.episode = ep.id "
        "WHERE ep.run_id = ? ORDER BY ep.id, ev.seq",
        (run_id,),
    )
    try:
        while True:
            rows = cursor.fetchmany(fetch)
            if not rows:
                return
            for (text,) in rows:
                yield text
    finally:
        cursor.close()


@dataclass(frozen=True)
class ParquetExport:
    """What `export_parquet` wrote."""

    events_path: Path
    episodes_path: Path
    events: int
    episodes: int


def parquet_paths(target: str | Path) -> tuple[Path, Path]:
    """(events, episodes) files for `-o`: a `.parquet` file gets `<stem>.episodes.parquet`
    beside it; anything else is a directory that gets `events.parquet` and
    `episodes.parquet`."""
    path = Path(target)
    if path.suffix == ".parquet":
        return path, path.with_name(path.stem + ".episodes.parquet")
    return path / "events.parquet", path / "episodes.parquet"


def export_parquet(
    store: Any, run_id: str, target: str | Path, *, batch_size: int = 10_000
) -> ParquetExport:
    """Write run `run_id` as Parquet (events and episodes); see the module docstring."""
    pa = _pyarrow()
    import pyarrow.parquet as pq

    if store.get_run(run_id) is None:
        raise UserError(f"no run {run_id!r} in store {store.path}")
    if batch_size < 1:
        raise UserError(f"batch_size must be at least 1, got {batch_size}")
    events_path, episodes_path = parquet_paths(target)
    # both files are written to temporary names and renamed when both are complete
    with (
        atomic_path(events_path, make_parents=True) as events_tmp,
        atomic_path(episodes_path, make_parents=True) as episodes_tmp,
    ):
        count = _write_events(pa, pq, store, run_id, events_tmp, batch_size)
        rows = [row.model_dump(mode="json") for row in store.episodes(run_id)]
        episode_schema = _schema(pa, _EPISODE_COLUMNS)
        episode_names = [name for name, _ in _EPISODE_COLUMNS]
        pq.write_table(
            _table(pa, episode_schema, episode_names, rows), episodes_tmp, compression="zstd"
        )
    return ParquetExport(events_path, episodes_path, count, len(rows))


def _write_events(pa: Any, pq: Any, store: Any, run_id: str, path: Path, batch_size: int) -> int:
    """Stream the run's events into the Parquet file `path`; returns how many."""
    schema = _schema(pa, _EVENT_COLUMNS)
    names = [name for name, _ in _EVENT_COLUMNS]
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        for text in _event_texts(store, run_id, batch_size):
            batch.append(event_row(run_id, text))
            if len(batch) >= batch_size:
                writer.write_table(_table(pa, schema, names, batch))
                count += len(batch)
                batch = []
        if batch or count == 0:
            writer.write_table(_table(pa, schema, names, batch))
            count += len(batch)
    return count


def _table(pa: Any, schema: Any, names: list[str], rows: list[dict[str, Any]]) -> Any:
    columns = {name: [row.get(name) for row in rows] for name in names}
    return pa.table(columns, schema=schema)
