"""Benchmark of what online contracts and governance cost per recorded event, against the
same run without them.

The workload: N episodes of a fan-out environment (M agents acting at each of K steps,
`bench.fanout` of the other benchmarks, here with one environment tool `note` in every
observation) with LLM operators on a zero-latency `ScriptedModel` that answers every
turn with a short text and one `note` call: each turn records an observation, a model
request and response, an action with a tool call, and the environment step. Nothing but
the framework costs time. Recorded into a real SQLite store in a temporary directory.
Four variants run interleaved, `--repeat` times each (median wall time):

- **plain**: no contracts, no governance;
- **contracts**: eight built-in contracts checked online on every event (tool argument
  schema, message size, allowed tools, secrets, termination, answered calls, role drift,
  budget);
- **governance**: a policy of three rules plus per-agent argument, rate and spend limits
  that decides every tool call before the environment sees it (all are allowed, so the
  episodes stay the same);
- **both**: contracts and governance.

Prints, per variant, the wall time per event of the plain run (the same episodes; the
verdict and governance events a variant adds count as its overhead) and its ratio to
`plain`.

    .venv/bin/python benchmarks/assurance.py                   # 200 episodes x 2 agents x 10 steps
    .venv/bin/python benchmarks/assurance.py --episodes 20 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import FanOutEnv, FanOutParams

import palaestra
from palaestra.core import Message, Observation, ToolCall, ToolSpec
from palaestra.envs import EnvSpec, register
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.runtime import Experiment

ENV_ID = "bench.fanout_tool"
NOTE = ToolSpec(
    name="note",
    description="Write a short note.",
    parameters={
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
)


class ToolFanOutEnv(FanOutEnv):
    """`bench.fanout` whose observations offer the environment tool `note`."""

    def _observations(self) -> dict[str, Observation]:
        text = f"Step {self.steps}. Reply with one word and a note."
        return {agent: Observation(text=text, tools=[NOTE]) for agent in self._agents}


CONTRACTS: list[dict[str, Any]] = [
    {"use": "tool_args_schema"},
    {"use": "max_message_tokens", "max_tokens": 400},
    {"use": "allowed_tools", "allow": {"*": ["note"]}},
    {"use": "no_secrets"},
    {"use": "terminates_within", "max_steps": 60},
    {"use": "tool_calls_answered"},
    {"use": "no_role_drift"},
    {"use": "budget", "max_tool_calls": 1000},
]

GOVERNANCE: dict[str, Any] = {
    "name": "bench",
    "agents": {
        "*": {
            "arguments": {"note": {"text": {"type": "string", "max_length": 200}}},
            "rate": {"*": {"per_step": 10}},
            "spend": {"notes": {"tools": ["refund"], "argument": "amount", "per_episode": 100}},
        }
    },
    "rules": [
        {"name": "no-mail", "tools": ["send_email"], "decision": "block", "reason": "none"},
        {
            "name": "no-long-notes",
            "tools": ["note"],
            "when": {"text": {"pattern": "^.{150,}$"}},
            "decision": "block",
            "reason": "too long",
        },
        {
            "name": "redact-mail",
            "tools": ["note"],
            "when": {"text": {"pattern": "@"}},
            "decision": "rewrite",
            "rewrite": [{"redact": {"argument": "text", "pattern": "@"}}],
        },
    ],
}


def reply(request: ModelRequest) -> Message:
    call = ToolCall(id="n", name="note", arguments={"text": "fine"})
    return Message(role="assistant", content="ok", tool_calls=[call])


def experiment(variant: str, episodes: int, agents: int, steps: int) -> Experiment:
    data: dict[str, Any] = {
        "name": f"assurance-{variant}",
        "seed": 0,
        "concurrency": {"episodes": 32, "model_calls": 1000},
        "jobs": [
            {
                "env": ENV_ID,
                "params": {"agents": agents, "steps": steps},
                "seeds": episodes,
                "max_steps": steps + 1,
                "operator": {"kind": "llm", "model": "default", "keep_history": False},
            }
        ],
    }
    if variant in ("contracts", "both"):
        data["contracts"] = CONTRACTS
    if variant in ("governance", "both"):
        data["governance"] = GOVERNANCE
    return Experiment.model_validate(data)


def measure(variant: str, args: argparse.Namespace, folder: Path, index: int) -> tuple[float, int]:
    """(wall seconds, events recorded) of one run of `variant`."""
    exp = experiment(variant, args.episodes, args.agents, args.steps)
    model = ScriptedModel(fn=reply, name="bench")
    start = time.perf_counter()
    result = palaestra.run(exp, store=folder / f"{variant}-{index}.db", models={"default": model})
    wall = time.perf_counter() - start
    failed = [row for row in result.episodes if row.outcome != "success"]
    if failed:
        raise SystemExit(f"{variant}: {len(failed)} episodes did not succeed: {failed[0]}")
    return wall, sum(row.n_events for row in result.episodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    register(
        EnvSpec(id=ENV_ID, factory=ToolFanOutEnv, params=FanOutParams, description="benchmark"),
        replace=True,
    )
    variants = ["plain", "contracts", "governance", "both"]
    walls: dict[str, list[float]] = {v: [] for v in variants}
    events: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        warm = argparse.Namespace(**{**vars(args), "episodes": 4})
        for variant in variants:  # warm up imports and caches
            measure(variant, warm, Path(tmp), -1)
        for index in range(args.repeat):
            for variant in variants:  # interleaved: load on the machine hits all alike
                wall, n = measure(variant, args, Path(tmp), index)
                walls[variant].append(wall)
                events[variant] = n
    print(
        f"workload: {args.episodes} episodes x {args.agents} agents x {args.steps} steps, "
        f"zero-latency model, 32 episodes in flight, median of {args.repeat}; "
        f"{events['plain'] / args.episodes:.1f} events per plain episode"
    )
    base = statistics.median(walls["plain"]) / events["plain"]
    for variant in variants:
        per_event = statistics.median(walls[variant]) / events["plain"]
        added = (events[variant] - events["plain"]) / args.episodes
        print(
            f"{variant:<11} {per_event * 1e6:7.1f} us per event  ratio {per_event / base:4.2f} x "
            f"plain  (+{added:.1f} verdict/governance events per episode)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
