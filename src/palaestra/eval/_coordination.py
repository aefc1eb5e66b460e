"""Coordination metrics of multi-agent systems, computed from the event log.

What coordination costs (messages, turns, model calls, tokens per agent; overhead
against a single agent) and what it buys (efficiency, error amplification), plus how
much parallel workers repeat each other (redundancy). docs/metrics.md defines each one
precisely; the docstrings below repeat the definitions.

Agents are named as in the log: an environment agent (``a``) and the internal agents of
a system it plays (``a/worker``, nested ``a/team/worker``). An internal agent's *turn*
is one child-context span: its events that hang (through their `parent` chain) under one
event of another agent, the `message` that consulted it. Its *output* in that turn is
the content of the last `message` it sent in the turn, else the text (or tool calls) of
its last model response in the turn; a turn with neither has no output.

Functions take the events of one episode (e.g. ``Store(path).events(run_id,
episode_id)``) or, through `run_measures`, a store and a run id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from palaestra.core import (
    EpisodeEnd,
    EpisodeLog,
    EpisodeStart,
    Event,
    MemoryRead,
    MemoryWrite,
    MessageEvent,
    ModelResponseEvent,
    ScoreEvent,
    UserError,
    is_judge,
)
from palaestra.store import Store

_WORD = re.compile(r"\w+")


def jaccard(a: str, b: str) -> float:
    """Token-set Jaccard similarity: |A ∩ B| / |A ∪ B| over the sets of lower-cased
    words (``\\w+``) of the two texts; 1.0 when both have no words."""
    x, y = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    union = x | y
    return len(x & y) / len(union) if union else 1.0


@dataclass
class AgentStats:
    """What one agent did in an episode (or, summed, in several). Adds up with `+`."""

    agent: str
    messages_sent: int = 0
    """`message` events whose sender is the agent."""
    messages_received: int = 0
    """`message` events that list the agent among their recipients."""
    turns: int = 0
    """Environment agent: its `observation` events. Internal agent: its child-context
    spans (distinct events of other agents its own events hang under)."""
    model_calls: int = 0
    """`model_request` events (one per logical call; retries are extra responses)."""
    input_tokens: int = 0
    """Sum of `usage.input_tokens` of its `model_response` events."""
    output_tokens: int = 0
    """Sum of `usage.output_tokens` of its `model_response` events."""
    tool_calls: int = 0
    """`tool_call` events (the operator's own tools; environment tools are actions)."""
    memory_reads: int = 0
    memory_hits: int = 0
    memory_writes: int = 0
    memory_rejected: int = 0
    """Writes the memory's admission policy did not store."""

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: AgentStats) -> AgentStats:
        if other.agent != self.agent:
            raise ValueError(f"cannot add the stats of {other.agent!r} to {self.agent!r}")
        counts = {name: getattr(self, name) + getattr(other, name) for name in _COUNTS}
        return AgentStats(self.agent, **counts)


_COUNTS = (
    "messages_sent",
    "messages_received",
    "turns",
    "model_calls",
    "input_tokens",
    "output_tokens",
    "tool_calls",
    "memory_reads",
    "memory_hits",
    "memory_writes",
    "memory_rejected",
)


@dataclass(frozen=True)
class SubResult:
    """The output of one turn of an internal agent (see the module docstring)."""

    agent: str
    step: int
    text: str
    opened_by: int
    """Seq of the event the turn hangs under (the consulting `message`)."""
    group: tuple[int, str, int | None, int | None] | None
    """(step, sender, parent, round) of that `message`: turns opened by messages with
    the same key are siblings run in parallel. None when the opener is not a message."""


@dataclass(frozen=True)
class ParallelGroup:
    """Sibling turns opened by one sender under one parent in one round, and how similar
    their outputs are: mean token-set Jaccard over pairs of distinct agents."""

    step: int
    sender: str
    round: int | None
    outputs: tuple[tuple[str, str], ...]
    """(agent, output text) of each sibling turn, in log order."""
    similarity: float


@dataclass
class EpisodeMeasures:
    """Everything the coordination metrics need from one episode's log."""

    episode_id: str
    env: str
    task: str
    seed: int
    epoch: int
    job: str
    """The episode id without its ``/task/seed/epoch`` suffix."""
    success: bool
    """The `score` event's verdict; False without a score (e.g. an error before it)."""
    outcome: str | None
    """`episode_end.outcome` (success / failure / error); None if the log has no end."""
    agents: dict[str, AgentStats]
    """Per agent, in order of first appearance."""
    messages: int
    """`message` events of the episode."""
    sub_results: list[SubResult] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int, int]:
        """(env, task, seed, epoch): what pairs this episode with another system's."""
        return (self.env, self.task, self.seed, self.epoch)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.agents.values())

    @property
    def model_calls(self) -> int:
        return sum(s.model_calls for s in self.agents.values())

    @property
    def turns(self) -> int:
        return sum(s.turns for s in self.agents.values())

    @property
    def parallel_groups(self) -> list[ParallelGroup]:
        return parallel_groups(self.sub_results)


def episode_measures(events: EpisodeLog | Sequence[Event]) -> EpisodeMeasures:
    """Per-agent counts, outcome and sub-results of one episode's events (in seq order)."""
    log = EpisodeLog.of(events)
    events = log.events
    start = events[0].payload if events else None
    if not isinstance(start, EpisodeStart):
        raise UserError(
            "episode_measures needs one episode's events from its `episode_start`, e.g. "
            "Store(path).events(run_id, episode_id)"
        )
    by_seq = log.by_seq
    stats: dict[str, AgentStats] = {}

    def of(agent: str) -> AgentStats:
        found = stats.get(agent)
        if found is None:
            found = stats[agent] = AgentStats(agent)
        return found

    openers: dict[int, int | None] = {}

    def opener(event: Event) -> int | None:
        """Seq of the event of another agent that `event`'s parent chain reaches."""
        chain, cur, found = [], event, None
        while cur.parent is not None:
            if cur.seq in openers:
                found = openers[cur.seq]
                break
            chain.append(cur.seq)
            parent = by_seq.get(cur.parent)
            if parent is None:
                break
            if parent.agent != event.agent:
                found = parent.seq
                break
            cur = parent
        for seq in chain:
            openers[seq] = found
        return found

    success, outcome, messages = False, None, 0
    turn_openers: dict[str, set[int]] = {}
    last_output: dict[tuple[str, int], tuple[int, str]] = {}  # (agent, opener) -> (rank, text)
    for event in events:
        kind, payload, agent = event.kind, event.payload, event.agent
        if is_judge(agent):
            continue  # a scorer's judge: the evaluation's cost, not the system's
        if isinstance(payload, MessageEvent):
            messages += 1
            of(payload.sender).messages_sent += 1
            for recipient in payload.recipients:
                of(recipient).messages_received += 1
        elif kind == "observation":
            of(agent).turns += 1
        elif kind == "model_request":
            of(agent).model_calls += 1
        elif isinstance(payload, ModelResponseEvent):
            mine = of(agent)
            mine.input_tokens += payload.usage.input_tokens
            mine.output_tokens += payload.usage.output_tokens
        elif kind == "tool_call":
            of(agent).tool_calls += 1
        elif isinstance(payload, MemoryRead):
            of(agent).memory_reads += 1
            of(agent).memory_hits += payload.hit
        elif isinstance(payload, MemoryWrite):
            of(agent).memory_writes += 1
            of(agent).memory_rejected += not payload.admitted
        elif isinstance(payload, ScoreEvent) and not payload.scorer:  # the env's own
            success = payload.success
        elif isinstance(payload, EpisodeEnd):
            outcome = payload.outcome
        if agent == "env" or event.parent is None:
            continue
        turn = opener(event)
        if turn is None:
            continue
        turn_openers.setdefault(agent, set()).add(turn)
        text = _output_text(event, agent)
        if text is not None:
            rank = 1 if kind == "message" else 0  # a message beats a model response
            previous = last_output.get((agent, turn))
            if previous is None or rank >= previous[0]:
                last_output[(agent, turn)] = (rank, text)
    for agent, turns in turn_openers.items():
        of(agent).turns += len(turns)
    subs = []
    for (agent, turn), (_, text) in last_output.items():
        opened = by_seq[turn]
        p = opened.payload
        group = (
            (opened.step, p.sender, opened.parent, p.round) if isinstance(p, MessageEvent) else None
        )
        subs.append(SubResult(agent, opened.step, text, turn, group))
    subs.sort(key=lambda s: (s.opened_by, s.agent))
    suffix = f"/{start.task}/{start.seed}/{start.epoch}"
    episode_id = events[0].episode_id
    return EpisodeMeasures(
        episode_id=episode_id,
        env=start.env,
        task=start.task,
        seed=start.seed,
        epoch=start.epoch,
        job=episode_id[: -len(suffix)] if episode_id.endswith(suffix) else "",
        success=success,
        outcome=outcome,
        agents=stats,
        messages=messages,
        sub_results=subs,
    )


def _output_text(event: Event, agent: str) -> str | None:
    """What `event` says as its agent's output: a message to someone outside the agent's
    own members, or a model response's text (else its tool calls)."""
    payload = event.payload
    if isinstance(payload, MessageEvent):
        inside = f"{agent}/"
        if payload.recipients and all(r.startswith(inside) for r in payload.recipients):
            return None  # the agent consulting its own members
        return payload.content
    if isinstance(payload, ModelResponseEvent):
        message = payload.message
        if message is None:
            return None
        if message.content:
            return str(message.content)
        calls = [f"{c.name}({json.dumps(c.arguments, sort_keys=True)})" for c in message.tool_calls]
        return " ".join(calls) if calls else ""
    return None


def run_measures(
    store: Store | str | Path, run_id: str, *, job: str | None = None
) -> list[EpisodeMeasures]:
    """`episode_measures` of every finished episode of a run (of one job, if given), in
    the order the episodes started. `run_id` may be a prefix or ``last``."""
    db = store if isinstance(store, Store) else Store(store)
    try:
        run = db.resolve_run(run_id)
        rows = db.episodes(run.run_id, status="finished")
        out = [episode_measures(db.events(run.run_id, row.episode_id)) for row in rows]
    finally:
        if db is not store:
            db.close()
    if job is not None:
        jobs = sorted({m.job for m in out})
        out = [m for m in out if m.job == job]
        if not out:
            raise UserError(f"run {run.run_id!r} has no finished episode of job {job!r}; "
                            f"its jobs: {', '.join(jobs) or '(none)'}")  # fmt: skip
    return out


def parallel_groups(sub_results: Iterable[SubResult]) -> list[ParallelGroup]:
    """Sibling turns (same opener key) of at least two distinct agents, with the mean
    pairwise similarity of their outputs over pairs of distinct agents."""
    groups: dict[tuple[int, str, int | None, int | None], list[SubResult]] = {}
    for sub in sub_results:
        if sub.group is not None:
            groups.setdefault(sub.group, []).append(sub)
    out = []
    for (step, sender, _parent, round_), subs in groups.items():
        pairs = [(a, b) for a, b in combinations(subs, 2) if a.agent != b.agent]
        if not pairs:
            continue
        similarity = sum(jaccard(a.text, b.text) for a, b in pairs) / len(pairs)
        outputs = tuple((s.agent, s.text) for s in subs)
        out.append(ParallelGroup(step, sender, round_, outputs, similarity))
    return out


def redundancy(episodes: Iterable[EpisodeMeasures]) -> float | None:
    """Mean, over every parallel group of the episodes, of the group's mean pairwise
    token-set Jaccard similarity of its outputs; None when there is no such group."""
    values = [g.similarity for m in episodes for g in m.parallel_groups]
    return sum(values) / len(values) if values else None


def efficiency(episodes: Sequence[EpisodeMeasures]) -> float | None:
    """Successes per 1,000 tokens: 1000 × Σ success / Σ tokens over the episodes; None
    when they used no tokens (a system without a model)."""
    tokens = sum(m.tokens for m in episodes)
    return 1000.0 * sum(m.success for m in episodes) / tokens if tokens else None


@dataclass(frozen=True)
class CoordinationSummary:
    """Totals of a set of episodes (a run, or one job of it)."""

    episodes: int
    successes: int
    agents: dict[str, AgentStats]
    """Per agent, summed over the episodes (divide by `episodes` for the mean)."""
    messages: int
    tokens: int
    model_calls: int
    turns: int
    efficiency: float | None
    redundancy: float | None

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def coordination_summary(episodes: Sequence[EpisodeMeasures]) -> CoordinationSummary:
    """Sums over episodes (per agent, and in total), success, efficiency, redundancy."""
    agents: dict[str, AgentStats] = {}
    for m in episodes:
        for name, stats in m.agents.items():
            agents[name] = agents[name] + stats if name in agents else stats + AgentStats(name)
    return CoordinationSummary(
        episodes=len(episodes),
        successes=sum(m.success for m in episodes),
        agents=agents,
        messages=sum(m.messages for m in episodes),
        tokens=sum(m.tokens for m in episodes),
        model_calls=sum(m.model_calls for m in episodes),
        turns=sum(m.turns for m in episodes),
        efficiency=efficiency(episodes),
        redundancy=redundancy(episodes),
    )
