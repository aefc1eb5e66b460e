"""Real stored runs for the export tests: built-in envs with baselines, an LLM operator
(a `ScriptedModel` that calls tools) and a multi-agent system from examples/systems."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import palaestra
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig
from palaestra.store import Store

ROOT = Path(__file__).resolve().parents[2]

# tooluse.store with db_seed 0: the first task is cancel-000 (its customer, order and
# reason are generated from the seed); the scripted LLM solves it with three tool calls.
# Any other task gets an apology, so the second episode fails.
LLM_REPLIES = [
    ScriptedModel.call("find_user_id_by_email", email="lucas.iyer76@example.com"),
    ScriptedModel.call("get_order_details", order_id="#W3606055"),
    ScriptedModel.call("cancel_pending_order", order_id="#W3606055", reason="ordered by mistake"),
    "Your order #W3606055 is cancelled.",
]


def _llm_reply(request):
    text = " ".join(m.content or "" for m in request.messages)
    if "lucas.iyer76@example.com" not in text:
        return "Sorry, I cannot help with that."
    turn = sum(1 for m in request.messages if m.role == "assistant")
    return LLM_REPLIES[min(turn, len(LLM_REPLIES) - 1)]


@dataclass(frozen=True)
class Runs:
    store_path: Path
    baseline: str
    llm: str
    """Two episodes: the first solved with three tool calls, the second failed."""
    code: str
    system: str

    @property
    def all(self) -> tuple[str, ...]:
        return (self.baseline, self.llm, self.code, self.system)


def build_runs(directory: Path) -> Runs:
    path = directory / "exports.db"
    with Store(path) as store:
        palaestra.run(
            Experiment(
                name="baseline",
                jobs=[
                    Job(env="tooluse.store", params={"db_seed": 0, "num_tasks": 4}, tasks=2),
                ],
            ),
            store=store,
            run_id="baseline",
        )
        palaestra.run(
            Experiment(
                name="llm",
                jobs=[
                    Job(
                        env="tooluse.store",
                        params={"db_seed": 0, "num_tasks": 4},
                        tasks=2,
                        operator=LLMOperatorConfig(model="default"),
                    ),
                ],
            ),
            store=store,
            run_id="llm",
            models={"default": ScriptedModel(fn=_llm_reply)},
        )
        palaestra.run(
            Experiment(
                name="code",
                jobs=[Job(env="code.python", params={"num_tasks": 2}, tasks="all")],
            ),
            store=store,
            run_id="code",
        )
        palaestra.run(ROOT / "examples/systems/centralized.yaml", store=store, run_id="system")
    return Runs(path, "baseline", "llm", "code", "system")


@functools.cache
def shared_runs() -> Runs:
    """The runs, built once per test process (the export tests only read them)."""
    return build_runs(Path(tempfile.mkdtemp(prefix="palaestra-exports-")))
