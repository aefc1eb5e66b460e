"""Every example experiment (except the demo, which needs the embedded model and runs in
test_demo.py) runs end to end with its baseline operators: no episode errors, every
planned episode finishes, and every job scores above zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from palaestra.runtime import run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "demo.yaml")


@pytest.mark.skipif(not EXAMPLES, reason="no example experiments besides the demo")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_with_baselines(path, tmp_path):
    result = run(path, store=tmp_path / "runs.db")
    assert result.errors == 0, [e.episode_id for e in result.episodes if e.outcome == "error"]
    assert result.episodes and all(e.status == "finished" for e in result.episodes)
    for label, stats in result.jobs.items():
        assert stats.finished == stats.episodes > 0, label
        assert stats.mean_score > 0, f"{label} scored {stats.mean_score}"
