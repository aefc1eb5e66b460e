"""Shared memory: parallel workers reuse a result that one of them computed.

Three LLM workers of an `Independent` system answer the same question, the n-th
Fibonacci number. Working it out costs one model call per addition (they add with a
calculator tool). Two systems are compared on the same tasks:

- `alone`: every worker computes the number itself;
- `shared`: the workers share a `SharedMemory` (first write wins, single flight). The
  first worker to miss computes the number and stores it; the others' `memory_read`
  waits for that write, and they answer at once: fewer model calls.

The workers' "LLM" is a `ScriptedModel` whose replies follow the conversation (with a
few milliseconds of latency, as a real model has), so the example runs offline in
about a second. Every memory read and write is in the log; the table below is computed
from it with `palaestra.eval`.

    python examples/shared_memory.py [--store runs/palaestra.db]
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from pydantic import BaseModel

import palaestra
from palaestra.boundaries import AdmitIfNew, SharedMemory, WithMemory, memory_tools
from palaestra.core import Action, Message, Observation
from palaestra.envs import EnvSpec, Score, Step
from palaestra.eval import overhead, run_measures
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.systems import Independent
from palaestra.tools import tool

WORKERS = ("w1", "w2", "w3")
TASKS = ["10", "12"]


# -- the environment: one question, answered in one step --------------------------------


def fibonacci(n: int) -> int:
    a, b = 1, 1
    for _ in range(n - 2):
        a, b = b, a + b
    return b


class FibonacciParams(BaseModel):
    pass


class FibonacciEnv:
    """One agent (`team`) is asked for Fibonacci number n (the task id)."""

    agents = ["team"]

    def __init__(self, params: FibonacciParams):
        self.n, self.answer = 0, ""

    def tasks(self) -> list[str]:
        return list(TASKS)

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.n, self.answer = int(task or TASKS[0]), ""
        text = f"What is Fibonacci number {self.n} (F1 = F2 = 1)? Reply with the number only."
        return {"team": Observation(text=text)}

    async def step(self, actions: dict[str, Action]) -> Step:
        self.answer = (actions["team"].text or "").strip()
        return Step(observations={}, rewards={"team": float(self.score().success)},
                    terminated=True)  # fmt: skip

    def score(self) -> Score:
        ok = self.answer == str(fibonacci(self.n))
        return Score(value=float(ok), success=ok)


palaestra.register(
    EnvSpec(id="example.fibonacci", factory=FibonacciEnv, params=FibonacciParams),
    replace=True,
)


# -- the workers ----------------------------------------------------------------------


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def worker_reply(request: ModelRequest) -> Message | str:
    """What a worker's model says next, from the conversation so far."""
    await asyncio.sleep(0.002)  # a model takes time: the workers' calls overlap
    question = next(m.content or "" for m in request.messages if m.role == "user")
    n = int(re.search(r"number (\d+)", question).group(1))  # type: ignore[union-attr]
    results = [m.content or "" for m in request.messages if m.role == "tool"]
    can_share = any(t.name == "memory_read" for t in request.tools)
    key = f"fibonacci({n})"
    if can_share and not results:
        return ScriptedModel.call("memory_read", key=key)  # first, look in the memory
    if results and results[-1].startswith("Found"):
        return results[-1].rsplit(": ", 1)[1]  # someone computed it: answer
    if results and results[-1].startswith(("Stored", "Not stored")):
        return str(fibonacci(n))  # shared my result: answer
    sums = [int(r) for r in results if r.lstrip("-").isdigit()]
    a, b = 1, 1
    for value in sums:
        a, b = b, value
    if len(sums) < n - 2:
        return ScriptedModel.call("add", a=a, b=b)  # one addition per model call
    if can_share:
        return ScriptedModel.call("memory_write", key=key, value=str(b))
    return str(b)


MODEL = ScriptedModel(fn=worker_reply, name="scripted-worker")


def alone(agent: str = "team") -> Independent:
    """Three workers that each compute the answer."""
    return Independent(
        {name: LLMOperator(MODEL, tools=[add], max_tool_rounds=16) for name in WORKERS}
    )


def shared(agent: str = "team") -> Independent:
    """Three workers sharing one memory: the first to miss computes, the others wait."""
    memory = SharedMemory(name="results", policy=AdmitIfNew(), single_flight=True)
    workers = {
        name: WithMemory(
            LLMOperator(MODEL, tools=[add, *memory_tools(memory)], max_tool_rounds=16), memory
        )
        for name in WORKERS
    }
    return Independent(workers)


def main(store: str | None = None) -> dict[str, Any]:
    """Run both systems on the same tasks; print and return model calls per worker."""
    jobs = [
        {
            "label": label,
            "env": "example.fibonacci",
            "tasks": "all",
            "operator": {"kind": "python", "factory": f"{__name__}:{label}"},
        }
        for label in ("alone", "shared")
    ]
    result = palaestra.run({"name": "shared-memory", "jobs": jobs}, store=store)
    measures = {label: run_measures(result.store_path, result.run_id, job=label)
                for label in ("alone", "shared")}  # fmt: skip
    calls = {
        label: [{w: m.agents[f"team/{w}"].model_calls for w in WORKERS} for m in episodes]
        for label, episodes in measures.items()
    }
    cost = overhead(measures["shared"], measures["alone"])
    print(f"run {result.run_id}: success rate {result.success_rate:.0%}")
    for label, per_episode in calls.items():
        for task, counts in zip(TASKS, per_episode, strict=True):
            shown = ", ".join(f"{w} {c}" for w, c in counts.items())
            print(f"  {label:<6} F{task}: model calls {shown} (total {sum(counts.values())})")
    print(f"  shared / alone: model calls x{cost.model_calls.of_sums:.2f}, "
          f"tokens x{cost.tokens.of_sums:.2f}")  # fmt: skip
    return {"run_id": result.run_id, "store": result.store_path, "calls": calls,
            "success_rate": result.success_rate}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=None, help="event store (default: runs/palaestra.db)")
    main(parser.parse_args().store)
