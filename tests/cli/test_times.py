"""Times the CLI prints: ISO 8601 in UTC with the offset, never raw Unix seconds."""

from __future__ import annotations

import re
import time
from datetime import datetime

import palaestra
from palaestra.cli import main
from palaestra.cli._render import when
from palaestra.runtime import Experiment, Job

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


def test_when_is_iso_8601_utc():
    assert when(0.0) == "1970-01-01T00:00:00+00:00"
    assert when(1_796_688_803.9) == "2026-12-08T00:13:23+00:00"
    assert when(None) == "-"


def test_runs_and_show_print_the_creation_time_as_iso(tmp_path, capsys, monkeypatch):
    store = tmp_path / "runs.db"
    monkeypatch.setenv("PALAESTRA_STORE", str(store))
    before = time.time()
    palaestra.run(
        Experiment(jobs=[Job(env="graph.coloring", params={"n": 6}, tasks=1)]),
        run_id="t1",
        store=store,
    )
    for command in (["runs"], ["show", "t1"]):
        capsys.readouterr()
        assert main(command) == 0
        out = capsys.readouterr().out
        (stamp,) = ISO.findall(out)
        assert abs(datetime.fromisoformat(stamp).timestamp() - before) < 60
        assert not re.search(r"\b1\d{9}\.\d+", out)  # no raw epoch seconds
