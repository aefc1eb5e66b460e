"""Every example experiment (except the demo, which runs in test_demo.py) runs end to end:
no episode errors, every planned episode finishes, every job of non-LLM operators scores
above zero, and every job of an LLM operator really called its model (the embedded
SmolLM2-135M is too small to be expected to solve a task; its jobs show the loop works)."""

from __future__ import annotations

from pathlib import Path

import pytest

from palaestra.runtime import load_experiment, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "demo.yaml")


def _case(path: Path) -> object:
    """An example whose jobs run an LLM operator builds and runs the embedded model:
    marked as such, with the time that takes."""
    if any(job.operator.kind == "llm" for job in load_experiment(path).jobs):
        return pytest.param(
            path, marks=[pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(300)]
        )
    return path


@pytest.mark.skipif(not EXAMPLES, reason="no example experiments besides the demo")
@pytest.mark.parametrize("path", [_case(p) for p in EXAMPLES], ids=lambda p: p.name)
def test_example_runs_with_baselines(path, tmp_path):
    experiment = load_experiment(path)
    llm_jobs = {job.label for job in experiment.jobs if job.operator.kind == "llm"}
    result = run(path, store=tmp_path / "runs.db")
    assert result.errors == 0, [e.episode_id for e in result.episodes if e.outcome == "error"]
    assert result.episodes and all(e.status == "finished" for e in result.episodes)
    for label, stats in result.jobs.items():
        assert stats.finished == stats.episodes > 0, label
        if label in llm_jobs:
            assert stats.tokens > 0, f"{label}: its model was never called"
        else:
            assert stats.mean_score > 0, f"{label} scored {stats.mean_score}"
