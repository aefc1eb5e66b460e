"""A full disk, for real: the store's size cap (`Store(max_bytes=)`, SQLite's
`max_page_count` on every connection that writes, the writer process's included) makes
a write past it fail with `SQLITE_FULL` exactly as on a full disk. The run stops with an error that
says so, is marked `failed` with the reason (not left `running`), keeps everything it
had committed, and a resume with room completes it."""

from __future__ import annotations

from pathlib import Path

import pytest

import palaestra
from palaestra.core import StoreError
from palaestra.runtime import Experiment, Job
from palaestra.store import Store
from tests.runtime.toy_env import register_counter


def _experiment() -> Experiment:
    return Experiment(name="full", jobs=[Job(env="test.counter", tasks=10, seeds=6)])


@pytest.mark.parametrize("writer_process", [False, True])
def test_a_run_on_a_full_disk_is_marked_failed_and_resumes_once_there_is_room(
    tmp_path: Path, writer_process: bool
) -> None:
    register_counter()
    path = tmp_path / "runs.db"
    reference = palaestra.run(_experiment(), run_id="ref", store=tmp_path / "ref.db")

    Store(path).close()  # an empty store; then room for a few batches more
    store = Store(
        path, batch_size=40, writer_process=writer_process, max_bytes=path.stat().st_size + 65536
    )
    with pytest.raises(StoreError, match="the disk is full, or the store reached its size") as e:
        palaestra.run(_experiment(), run_id="full", store=store)
    # reported by the writer process (its SQLite code first) or by the store itself
    assert ("SQLITE_FULL OperationalError: database or disk is full" in str(e.value)) == (
        writer_process
    )
    run = store.get_run("full")
    assert run is not None and run.status == "failed"
    assert run.reason is not None and "disk is full" in run.reason
    with pytest.raises(StoreError, match="disk is full"):
        store.close()  # the last events cannot be written: reported, the file closed
    assert store._conn is None

    with Store(path) as reopened:  # everything committed is there, whole
        finished = reopened.episodes("full", status="finished")
        assert 0 < len(finished) < 60
        for row in finished:
            events = reopened.events("full", row.episode_id)
            assert [e.seq for e in events] == list(range(row.n_events))
            assert events[-1].kind == "episode_end"

    resumed = palaestra.run(_experiment(), run_id="full", store=path)  # room again
    assert resumed.skipped == len(finished)
    assert [row.hash for row in resumed.episodes] == [row.hash for row in reference.episodes]
    with Store(path) as reopened:
        run = reopened.get_run("full")
        assert run is not None and run.status == "finished" and run.reason is None
