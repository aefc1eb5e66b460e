"""Fixtures of the viewer tests: one real store with real runs of built-in environments.

Three runs, made once per test session with the real runner and the real SQLite store:
- `tooluse`: the tau-bench-style shop and airline domains with their ground-truth
  baselines (the airline job with the customer as a second agent, `user`);
- `system`: `examples/systems/centralized.yaml`, an orchestrator delegating to two
  workers (internal agents `agent/q1_solver`, `agent/q2_solver`, nested by `parent`);
- `errors`: a shop job whose LLM operator's scripted model runs out of replies (each
  episode ends with outcome `error`) next to a baseline job that succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import palaestra
from palaestra.models import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]

TOOLUSE = {
    "name": "viewer-tooluse",
    "seed": 0,
    "limits": {"max_steps": 40},
    "jobs": [
        {
            "env": "tooluse.store",
            "label": "shop",
            "params": {"db_seed": 0, "num_tasks": 20},
            "tasks": 4,
        },
        {
            "env": "tooluse.airline",
            "label": "airline-two-agents",
            "params": {"db_seed": 1, "user": "agent"},
            "tasks": 2,
            "agents": {"user": "baseline"},
        },
    ],
}

ERRORS = {
    "name": "viewer-errors",
    "seed": 1,
    "limits": {"max_steps": 10},
    "jobs": [
        {
            "env": "tooluse.store",
            "label": "runs-out",
            "params": {"db_seed": 0, "num_tasks": 20},
            "tasks": 2,
            "operator": {"kind": "llm", "model": "default"},
        },
        {
            "env": "tooluse.store",
            "label": "baseline",
            "params": {"db_seed": 0, "num_tasks": 20},
            "tasks": 3,
        },
    ],
}


@dataclass(frozen=True)
class ViewerRuns:
    """The store and the ids of its three runs."""

    store: Path
    tooluse: str
    system: str
    errors: str


@pytest.fixture(scope="session")
def viewer_runs(tmp_path_factory: pytest.TempPathFactory) -> ViewerRuns:
    store = tmp_path_factory.mktemp("viewer") / "store.db"
    tooluse = palaestra.run(TOOLUSE, store=store, run_id="tooluse-run")
    system = palaestra.run(
        ROOT / "examples" / "systems" / "centralized.yaml", store=store, run_id="system-run"
    )
    # one reply, then the script is exhausted: the model's error ends the episode
    short = ScriptedModel([ScriptedModel.call("find_user_id_by_email", email="x@y.z")])
    errors = palaestra.run(ERRORS, store=store, run_id="errors-run", models={"default": short})
    return ViewerRuns(store, tooluse.run_id, system.run_id, errors.run_id)
