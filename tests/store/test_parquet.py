"""Parquet export on real stored runs: one row per event with typed columns, episodes
table, row groups of the batch size (streamed), file or directory targets."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from palaestra.core import UserError
from palaestra.store import Store, export_parquet
from tests.store.export_runs import Runs, shared_runs


@pytest.fixture(scope="module")
def runs() -> Runs:
    return shared_runs()


@pytest.fixture
def source(runs: Runs):
    with Store(runs.store_path) as store:
        yield store


def test_one_row_per_event_with_typed_columns(source, runs, tmp_path):
    result = export_parquet(source, runs.system, tmp_path / "out")
    assert result.events_path == tmp_path / "out" / "events.parquet"
    table = pq.read_table(result.events_path)
    events = list(source.iter_events(runs.system))
    assert table.num_rows == result.events == len(events)
    assert table.schema.field("seq").type == pa.int64()
    assert table.schema.field("parent").type == pa.int64()
    assert table.schema.field("success").type == pa.bool_()
    rows = table.to_pylist()
    for row, event in zip(rows, events, strict=True):
        assert (row["episode_id"], row["seq"], row["kind"], row["agent"], row["parent"]) == (
            event.episode_id,
            event.seq,
            event.kind,
            event.agent,
            event.parent,
        )
        assert row["run_id"] == runs.system
        assert json.loads(row["payload"]) == event.payload.model_dump(mode="json")
        assert row["time"] == event.time
    responses = [e for e in events if e.kind == "model_response"]
    assert sum(r["input_tokens"] or 0 for r in rows) == sum(
        e.payload.usage.input_tokens for e in responses
    )
    tool_calls = [r for r in rows if r["kind"] == "tool_call"]
    assert [r["tool_name"] for r in tool_calls] == [
        "delegate_to_q1_solver",
        "delegate_to_q2_solver",
    ]
    (score,) = [r for r in rows if r["kind"] == "score"]
    assert score["score"] == 1.0 and score["success"] is True
    (step,) = [r for r in rows if r["kind"] == "env_step"]
    assert step["reward"] == 1.0


def test_batches_are_row_groups_and_episodes_table(source, runs, tmp_path):
    result = export_parquet(source, runs.llm, tmp_path / "llm.parquet", batch_size=7)
    assert result.episodes_path == tmp_path / "llm.episodes.parquet"
    n = len(list(source.iter_events(runs.llm)))
    assert pq.ParquetFile(result.events_path).metadata.num_row_groups == math.ceil(n / 7)
    episodes = pq.read_table(result.episodes_path).to_pylist()
    rows = source.episodes(runs.llm)
    assert [e["episode_id"] for e in episodes] == [r.episode_id for r in rows]
    assert [e["success"] for e in episodes] == [True, False]
    assert episodes[0]["input_tokens"] == rows[0].input_tokens


def test_errors(source, runs, tmp_path):
    with pytest.raises(UserError, match="no run"):
        export_parquet(source, "missing", tmp_path)
    with pytest.raises(UserError, match="batch_size"):
        export_parquet(source, runs.code, tmp_path, batch_size=0)
