"""Benchmark of what each multi-agent topology costs the framework per model call, against
the bare single-operator loop.

The workload: N episodes of `bench.fanout` with one agent acting at each of K steps,
`--concurrency` episodes at once, recorded into a real SQLite store in a temporary
directory. The model costs nothing: one `ScriptedModel(fn=reply)` answers every member
of every system (`reply` looks at the asking agent's role to give a delegation, a plan
or a schema-valid JSON where the topology needs one, else "ok"). Every LLM operator runs
with `keep_history=False`, so no conversation grows over the K steps.

- **bare**: the environment's agent is a plain LLM operator (`kind: llm`), no system;
- **single**: `single` over that operator (it acts as the env agent itself);
- **independent**: 3 voters, majority vote;
- **centralized**: orchestrator + 2 workers, holistic (one reply delegates to both);
- **decentralized**: 3 peers, complete graph, 2 rounds, majority;
- **hybrid**: coordinator + 2 workers, 1 peer round;
- **recursive**: `max_depth: 1`; the root is split into 2 sub-tasks, the second
  depending on the first (atomizer, planner, 2 executors, aggregator);
- **pipeline**: 3 stages, the first two with a pydantic schema.

Systems are built from the same configuration objects a YAML `system:` block gives.
Prints, per variant (median wall time of `--repeat` interleaved runs): microseconds per
model call and model calls per step; microseconds per environment step and its ratio to
the bare loop; for systems that make more calls than the bare loop, the framework cost
of each model call they add, (t_system - t_bare) / (calls_system - calls_bare); and the
events recorded per model call.

    .venv/bin/python benchmarks/topologies.py                  # 200 episodes x 5 steps
    .venv/bin/python benchmarks/topologies.py --episodes 20 --steps 2 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from _common import ENV_ID, register_fanout
from pydantic import BaseModel

import palaestra
from palaestra.core import Message, ToolCall
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.runtime import (
    CentralizedSystemConfig,
    Concurrency,
    DecentralizedSystemConfig,
    Experiment,
    HybridSystemConfig,
    IndependentSystemConfig,
    Job,
    Limits,
    LLMOperatorConfig,
    PipelineStageConfig,
    PipelineSystemConfig,
    RecursiveSystemConfig,
    SingleSystemConfig,
)

PLAN = json.dumps(
    [{"id": "a", "task": "first", "deps": []}, {"id": "b", "task": "second", "deps": ["a"]}]
)


class Draft(BaseModel):
    """The schema of the pipeline's first two stages."""

    answer: str


class Reply:
    """The zero-latency model: answers by role, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: ModelRequest) -> str | Message:
        self.calls += 1
        agent = request.agent
        role = agent.rsplit("/", 1)[-1]
        if role == "atomizer":
            return '{"atomic": false}'
        if role == "planner":
            return PLAN
        if role in ("draft", "review"):
            return '{"answer": "ok"}'
        delegates = [t.name for t in request.tools if t.name.startswith("delegate_to_")]
        if delegates and request.messages[-1].role != "tool":
            calls = [ToolCall(id="", name=name, arguments={"task": "do it"}) for name in delegates]
            return Message(role="assistant", tool_calls=calls)
        return "ok"


def llm() -> LLMOperatorConfig:
    return LLMOperatorConfig(model="default", keep_history=False)


def variants() -> dict[str, Any]:
    """Operator config of each variant (see the module docstring)."""
    schema = f"{__name__}:Draft"
    return {
        "bare": llm(),
        "single": SingleSystemConfig(members={"solo": llm()}),
        "independent": IndependentSystemConfig(members={n: llm() for n in "abc"}),
        "centralized": CentralizedSystemConfig(
            orchestrator="boss",
            mode="holistic",
            members={"boss": llm(), "w1": llm(), "w2": llm()},
        ),
        "decentralized": DecentralizedSystemConfig(members={n: llm() for n in "abc"}, rounds=2),
        "hybrid": HybridSystemConfig(
            coordinator="lead", members={"lead": llm(), "x": llm(), "y": llm()}, peer_rounds=1
        ),
        "recursive": RecursiveSystemConfig(
            atomizer="at",
            planner="pl",
            executor="ex",
            aggregator="ag",
            max_depth=1,
            members={"at": llm(), "pl": llm(), "ex": llm(), "ag": llm()},
        ),
        "pipeline": PipelineSystemConfig(
            stages=[
                PipelineStageConfig(member="draft", schema=schema),
                PipelineStageConfig(member="review", schema=schema),
                PipelineStageConfig(member="final"),
            ],
            members={"draft": llm(), "review": llm(), "final": llm()},
        ),
    }


def experiment(operator: Any, episodes: int, steps: int, concurrency: int) -> Experiment:
    return Experiment(
        name="topologies",
        jobs=[
            Job(
                env=ENV_ID,
                params={"agents": 1, "steps": steps},
                tasks=1,
                seeds=episodes,
                operator=operator,
            )
        ],
        concurrency=Concurrency(episodes=concurrency, model_calls=concurrency * 8),
        limits=Limits(max_steps=steps),
    )


class Measured(NamedTuple):
    seconds: float
    calls: int
    events: int


def run_variant(
    operator: Any, episodes: int, steps: int, concurrency: int, store: Path
) -> Measured:
    """One recorded run of a variant: wall seconds, model calls, events."""
    reply = Reply()
    exp = experiment(operator, episodes, steps, concurrency)
    started = time.perf_counter()
    result = palaestra.run(
        exp, run_id="topologies", store=store, models={"default": ScriptedModel(fn=reply)}
    )
    seconds = time.perf_counter() - started
    bad = [e for e in result.episodes if e.outcome != "success"]
    if bad:
        first = bad[0]
        raise SystemExit(
            f"{len(bad)} episodes did not succeed, e.g. {first.episode_id}: "
            f"{first.outcome} ({first.reason}) {first.error or ''}"
        )
    return Measured(seconds, reply.calls, sum(e.n_events for e in result.episodes))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200, help="N episodes")
    parser.add_argument("--steps", type=int, default=5, help="K steps per episode")
    parser.add_argument("--concurrency", type=int, default=32, help="episodes in flight")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians shown")
    parser.add_argument(
        "--only", help="comma-separated variants to run besides bare (default: all)"
    )
    args = parser.parse_args(argv)
    for name in ("episodes", "steps", "concurrency", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    register_fanout()
    configs = variants()
    if args.only:
        wanted = [v.strip() for v in args.only.split(",") if v.strip()]
        unknown = [v for v in wanted if v not in configs]
        if unknown:
            parser.error(f"--only: unknown variants {unknown}; valid: {', '.join(configs)}")
        configs = {k: v for k, v in configs.items() if k == "bare" or k in wanted}
    n, k, c = args.episodes, args.steps, args.concurrency
    print(
        f"workload: {n:,} episodes x {k} steps, 1 agent, {c} episodes in flight, "
        f"zero-latency model, median of {args.repeat}"
    )
    runs: dict[str, list[Measured]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in configs.items():  # warm-up: imports, first SQLite open
            run_variant(config, 2, 1, 2, Path(tmp) / f"warm-{name}.db")
        for r in range(args.repeat):  # interleaved, so machine load hits all alike
            for name, config in configs.items():
                store = Path(tmp) / f"{name}-{r}.db"
                runs[name].append(run_variant(config, n, k, c, store))
                store.unlink()

    steps = n * k
    base = statistics.median(m.seconds for m in runs["bare"])
    base_calls = runs["bare"][-1].calls
    for name, measured in runs.items():
        last = measured[-1]
        seconds = statistics.median(m.seconds for m in measured)
        per_call = seconds * 1e6 / last.calls
        per_step = seconds * 1e6 / steps
        label = "bare llm operator" if name == "bare" else name
        line = (
            f"{label}: {per_call:.1f} us per model call ({last.calls / steps:.2f} calls per "
            f"step), {per_step:.1f} us per step, ratio {seconds / base:.2f} x bare per step"
        )
        if last.calls > base_calls:
            # what each model call the topology adds costs the framework
            extra = (seconds - base) * 1e6 / (last.calls - base_calls)
            line += f", {extra:.1f} us per added model call"
        print(f"{line}; {last.events / last.calls:.2f} events per model call")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
