"""examples/shared_memory.py runs, and its log shows the workers sharing: in the `shared`
system one worker computes and stores the result, the others read it (after waiting for
the write) and make fewer model calls; in `alone` every worker computes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from palaestra.eval import run_measures
from palaestra.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shared_memory.py"
NAME = "palaestra_example_shared_memory"


@pytest.fixture
def example():
    spec = importlib.util.spec_from_file_location(NAME, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module  # the experiment names its operators `NAME:alone` / `:shared`
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(NAME, None)


def test_parallel_workers_reuse_the_stored_result(example, tmp_path, capsys):
    out = example.main(str(tmp_path / "runs.db"))
    assert out["success_rate"] == 1.0
    assert "shared / alone: model calls x0.5" in capsys.readouterr().out

    with Store(out["store"]) as store:
        for row in store.episodes(out["run_id"]):
            events = store.events(out["run_id"], row.episode_id)
            n = int(row.task)
            adds = {
                e.agent for e in events if e.kind == "tool_call" and e.payload.call.name == "add"
            }
            writes = [e for e in events if e.kind == "memory_write"]
            reads = [e for e in events if e.kind == "memory_read"]
            if row.episode_id.startswith("alone/"):
                assert adds == {"team/w1", "team/w2", "team/w3"} and not writes and not reads
                continue
            # shared: w1 missed first, computed (n - 2 additions) and stored the number
            assert adds == {"team/w1"}
            assert [(e.agent, e.payload.admitted, e.payload.value) for e in writes] == [
                ("team/w1", True, str(example.fibonacci(n)))
            ]
            assert [(e.agent, e.payload.hit, e.payload.writer) for e in reads] == [
                ("team/w1", False, None),
                ("team/w2", True, "team/w1"),
                ("team/w3", True, "team/w1"),
            ]
            calls = [e.agent for e in events if e.kind == "model_request"]
            assert calls.count("team/w1") == n - 2 + 3  # read, additions, write, answer
            assert calls.count("team/w2") == calls.count("team/w3") == 2  # read, answer

    shared = run_measures(out["store"], out["run_id"], job="shared")
    alone = run_measures(out["store"], out["run_id"], job="alone")
    assert sum(m.model_calls for m in shared) < sum(m.model_calls for m in alone)
    assert all(m.agents["team/w2"].memory_hits == 1 for m in shared)
    # the three workers' proposals (one parallel group per episode) are the same number
    groups = [g for m in shared + alone for g in m.parallel_groups]
    assert len(groups) == 4 and all(g.similarity == 1.0 for g in groups)
    assert [text for _, text in groups[0].outputs] == ["55"] * 3
