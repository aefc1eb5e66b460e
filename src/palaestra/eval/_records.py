"""One `EpisodeRecord` per finished episode: what the metrics group by and what they
measure, read once from a run's episode rows and events.

The episode row (palaestra.store) gives identity and outcome (env, task, seed, epoch,
outcome, score, steps, tokens, wall time); the events add what only the log knows: the
environment parameters and the operator of each agent (`episode_start`), model calls
and their latencies and costs (`model_request`, `model_response`), tool calls (an
operator's own `tool_call` events plus the calls to environment tools inside `action`
events) and the score's named metrics (`score`).

Group fields (`record_field`): `job` (the job label, `J@system` included), `base_job`
(the label without `@system`), `system` (the part after `@`, or `-`), `env`, `task`,
`seed`, `epoch`, `outcome`, `run`, `params.NAME` (an environment parameter),
`operators.AGENT` (who played an agent, as `episode_start` records it), `operators`
(all of them, `agent=operator` joined by `, `).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import is_judge
from palaestra.store import EpisodeRow, Store

GROUP_FIELDS = (
    "job",
    "base_job",
    "system",
    "env",
    "task",
    "seed",
    "epoch",
    "outcome",
    "run",
    "operators",
    "params.NAME",
    "operators.AGENT",
)
"""The fields `record_field` knows (NAME / AGENT: any parameter or agent name)."""


@dataclass
class EpisodeRecord:
    """A finished episode, as the metrics see it."""

    run_id: str
    episode_id: str
    """`job/task/seed/epoch`."""
    job: str
    """The job label (`J@system` for compared or Shapley runs)."""
    env: str
    task: str
    seed: int
    epoch: int
    outcome: str
    """success, failure or error."""
    success: bool
    """`outcome == "success"` (an error counts as a failure, as in tau-bench)."""
    score: float | None = None
    """The environment's verified score, None without one."""
    reward: float = 0.0
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wall_s: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    """Environment parameters (from `episode_start`)."""
    operators: dict[str, str] = field(default_factory=dict)
    """Who played each agent (from `episode_start`)."""
    model_calls: int = 0
    """`model_request` events."""
    latencies_s: list[float] = field(default_factory=list)
    """`duration_s` of every `model_response` (each attempt, retries included)."""
    cost_usd: float | None = None
    """Sum of `usage.cost_usd` over the model responses; None when none reported a
    cost (the provider's price is unknown)."""
    tool_calls: int = 0
    """An operator's own tool calls plus its calls to environment tools (in actions)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """The named metrics of the `score` event."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def value(self) -> float:
        """The score, or the success as 0/1 where the episode has no score."""
        return float(self.success) if self.score is None else float(self.score)

    @property
    def key(self) -> str:
        """The task trial without the system: `base_job/task/seed/epoch` — what two
        configurations of the same tasks share (see `paired_compare`)."""
        job, _, rest = self.episode_id.partition("/")
        return f"{base_job(job)}/{rest}"

    @property
    def task_key(self) -> str:
        """The task without seed and epoch, `job/task`: the trials of pass@k."""
        return self.episode_id.rsplit("/", 2)[0]


def base_job(job: str) -> str:
    """`J@system` → `J`; a label without `@` is its own base."""
    base, at, system = job.rpartition("@")
    return base if at and base and system else job


def system_of(job: str) -> str:
    """`J@system` → `system`; `-` for a label without `@`."""
    base, at, system = job.rpartition("@")
    return system if at and base and system else "-"


def record_field(record: EpisodeRecord, name: str) -> str:
    """The value of a group field (see the module docstring) as text; `-` where the
    episode has no such parameter or agent. Raises `ValueError` for an unknown field."""
    simple: dict[str, Callable[[EpisodeRecord], Any]] = {
        "job": lambda r: r.job,
        "base_job": lambda r: base_job(r.job),
        "system": lambda r: system_of(r.job),
        "env": lambda r: r.env,
        "task": lambda r: r.task,
        "seed": lambda r: r.seed,
        "epoch": lambda r: r.epoch,
        "outcome": lambda r: r.outcome,
        "run": lambda r: r.run_id,
        "operators": lambda r: ", ".join(f"{a}={o}" for a, o in sorted(r.operators.items())),
    }
    if name in simple:
        return str(simple[name](record))
    head, dot, rest = name.partition(".")
    if dot and rest and head == "params":
        value = record.params.get(rest, "-")
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if dot and rest and head == "operators":
        return record.operators.get(rest, "-")
    raise ValueError(f"unknown group field {name!r}; valid: {', '.join(GROUP_FIELDS)}")


def _new_record(row: EpisodeRow) -> EpisodeRecord:
    job = row.episode_id.split("/", 1)[0]
    return EpisodeRecord(
        run_id=row.run_id,
        episode_id=row.episode_id,
        job=job,
        env=row.env,
        task=row.task,
        seed=row.seed,
        epoch=row.epoch,
        outcome=row.outcome or "error",
        success=row.outcome == "success",
        score=row.score,
        reward=row.total_reward,
        steps=row.steps,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        wall_s=row.wall_s,
    )


def episode_records(store: Store, run_id: str) -> list[EpisodeRecord]:
    """The finished episodes of a run as records, in the order they were started
    (unfinished episodes are left out). Reads every event of the run once."""
    rows = store.episodes(run_id, status="finished")
    records = {row.episode_id: _new_record(row) for row in rows}
    costs: dict[str, float] = {}
    for event in store.iter_events(run_id):
        record = records.get(event.episode_id)
        if record is None:
            continue
        payload: Any = event.payload
        kind = event.kind
        if is_judge(event.agent):
            continue  # a scorer's judge: the evaluation's cost, not the episode's
        if kind == "episode_start":
            record.params = dict(payload.params)
            record.operators = dict(payload.operators)
        elif kind == "model_request":
            record.model_calls += 1
        elif kind == "model_response":
            record.latencies_s.append(event.duration_s)
            if payload.usage.cost_usd:
                costs[event.episode_id] = costs.get(event.episode_id, 0.0) + payload.usage.cost_usd
        elif kind == "tool_call":
            record.tool_calls += 1
        elif kind == "action":
            record.tool_calls += len(payload.action.tool_calls)
        elif kind == "score" and not payload.scorer:  # the environment's own score
            record.metrics = dict(payload.metrics)
    for episode_id, cost in costs.items():
        records[episode_id].cost_usd = cost
    return list(records.values())


def group_records(
    records: Iterable[EpisodeRecord],
    group_by: str | Sequence[str] | Callable[[EpisodeRecord], str] | None,
) -> dict[str, list[EpisodeRecord]]:
    """Records by group, groups in order of first appearance. `group_by` is a field
    name, several (their values joined by ` | `), a function of a record, or None (one
    group, `all`)."""
    if group_by is None:
        key: Callable[[EpisodeRecord], str] = lambda r: "all"  # noqa: E731
    elif callable(group_by):
        key = group_by
    else:
        names = [group_by] if isinstance(group_by, str) else list(group_by)
        if not names:
            raise ValueError("group_by: give at least one field")
        for name in names:  # fail on an unknown field even without records
            probe = EpisodeRecord("", "j/t/0/0", "j", "", "", 0, 0, "success", True)
            record_field(probe, name)
        key = lambda r: " | ".join(record_field(r, n) for n in names)  # noqa: E731
    groups: dict[str, list[EpisodeRecord]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return groups
