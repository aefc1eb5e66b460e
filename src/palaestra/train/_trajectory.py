"""Per-agent trajectories from stored episodes: the training data of `palaestra.train`.

A *trajectory* is what one agent did in one episode, seen as a sequence of model turns.
A *turn* is one `model_request` with its successful `model_response`: the prompt (the
messages, and `prompt_token_ids` where the policy reported them) and the reply (the
message, the `token_ids` the policy generated and their `logprobs`). Failed attempts
(retries) are not turns; a request whose every attempt failed gives no turn.

Token sequences (`Segment`) are built from the recorded ids only: history is never
re-tokenised. Turns are joined like this:

- a turn whose `prompt_token_ids` start with the whole current segment (the previous
  turn's prompt + generated ids, and whatever came before) *continues* it: the new
  prompt tokens after that prefix (the environment's reply, the chat template's glue)
  are appended with loss mask 0, then the generated tokens with mask 1;
- otherwise (the policy re-rendered the history into other ids, dropped it, or this is
  the first turn) the turn *starts a new segment*: its whole prompt with mask 0, then its
  generated tokens with mask 1. Nothing is lost: each segment is a valid training
  sequence whose masked tokens are exactly what the policy generated.

A turn without token ids (an API model) still gives text-level data: its `messages` and
`response` are kept, `Turn.has_tokens` is False and it belongs to no segment.

Rewards: `reward` is the environment's verified score of the episode (the `score` event
with an empty `scorer`); `step_rewards` are the agent's `env_step` rewards, one per
environment step (an internal agent `a/b` of a system gets the rewards of its
environment agent `a`). Episodes that ended because the environment or the platform
failed (`reason: error`: an exception in the env, a tool server, the model service or the
framework — a policy's own mistakes become observations, never exceptions) are kept
with `env_failure=True` and *masked out* of training by `Batch` construction, not given
reward 0.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from palaestra.core import (
    EnvStep,
    EpisodeLog,
    EpisodeStart,
    Event,
    ModelRequestEvent,
    ModelResponseEvent,
    ObservationEvent,
    ScoreEvent,
    ToolResultEvent,
    UserError,
    is_judge,
)
from palaestra.store import EpisodeRow, Store
from palaestra.train._answers import AnswerCount, AnswerFormat, regex_answers, tag_answers
from palaestra.train._turns import Segment, Turn, join_segments

__all__ = [  # _turns' and _answers' types are re-exported: they are part of this interface
    "GROUP_KEY_FIELDS",
    "MASKED_REASONS",
    "REWARD_SOURCES",
    "AnswerCount",
    "AnswerFormat",
    "GroupKey",
    "RewardSource",
    "Segment",
    "Trajectory",
    "Turn",
    "episode_trajectories",
    "join_segments",
    "regex_answers",
    "tag_answers",
    "trajectories",
]

MASKED_REASONS: tuple[str, ...] = ("error",)
"""End reasons that mark an episode as an environment/platform failure by default."""


class GroupKey(NamedTuple):
    """Where a trajectory comes from: enough to group rollouts of the same task."""

    job: str
    """Job label (the first part of the episode id `job/task/seed/epoch`)."""
    task: str
    seed: int
    epoch: int
    agent: str
    """The agent whose turns these are (`a/b` for an internal agent of a system)."""


GROUP_KEY_FIELDS: tuple[str, ...] = GroupKey._fields
"""Fields a grouping may use (`Batch`, filters, estimators): job, task, seed, epoch, agent."""

RewardSource = Literal["score", "return"]
"""Which number is a trajectory's reward R for estimators and filters: `score`, the
environment's verified score of the episode (shared by its agents), or `return`, the
sum of the agent's own `env_step` rewards."""

REWARD_SOURCES: tuple[str, ...] = ("score", "return")


@dataclass
class Trajectory:
    """What one agent did in one episode: its model turns, rewards and flags."""

    run_id: str
    episode_id: str
    key: GroupKey
    """job, task, seed, epoch, agent."""
    env: str
    """Registered environment id."""
    turns: list[Turn]
    segments: list[Segment]
    """Token sequences built from the turns that recorded token ids (see module doc)."""
    reward: float | None
    """The environment's verified score of the episode; None if it gave none."""
    success: bool | None
    """Whether that score counts as solved; None without a score."""
    step_rewards: list[float]
    """The agent's `env_step` reward at each environment step (0.0 where none)."""
    steps: int
    """Environment steps the episode took."""
    end_reason: str
    """`episode_end.reason`: done, max_steps, error, budget, truncated, contract."""
    env_failure: bool
    """The environment or platform failed (see `MASKED_REASONS`): masked out of training."""
    end_error: str | None = None
    """The one-line error of a failed episode."""
    tool_calls: int = 0
    """Tool results the agent received: its own tools' and the environment's."""
    tool_errors: int = 0
    """Of those, how many were errors."""
    answers: int = 0
    """Answers found in the agent's replies by the answer format."""
    answer_unclosed: bool = False
    """An answer was opened and never closed."""
    faults: int = 0
    """`fault` events injected in the episode (kept for training, counted for analysis)."""
    extra: dict[str, object] = field(default_factory=dict)
    """Free slot for callers (e.g. a trainer's bookkeeping); not filled here."""

    @property
    def agent(self) -> str:
        return self.key.agent

    @property
    def task(self) -> str:
        return self.key.task

    @property
    def masked(self) -> bool:
        """Left out of training: the episode failed for reasons the policy does not own."""
        return self.env_failure

    @property
    def has_tokens(self) -> bool:
        """Whether every turn recorded token ids (token-level training possible)."""
        return bool(self.turns) and all(t.has_tokens for t in self.turns)

    def value(self, source: RewardSource = "score") -> float:
        """The reward R of this trajectory under `source` (see `RewardSource`)."""
        if source == "return":
            return self.step_return
        if source != "score":
            raise ValueError(f"unknown reward source {source!r}; valid: score, return")
        if self.reward is None:
            raise ValueError(
                f"episode {self.episode_id!r} has no environment score (it ended with "
                f"{self.end_reason!r}); drop it with drop_masked() or use reward='return'"
            )
        return self.reward

    @property
    def step_return(self) -> float:
        """Sum of the agent's step rewards."""
        return sum(self.step_rewards)

    @property
    def tool_error_share(self) -> float:
        """p_err of resample-on-correct: share of tool results that were errors, 0.5 when
        the agent received none (rStar2-Agent)."""
        return self.tool_errors / self.tool_calls if self.tool_calls else 0.5

    @property
    def format_penalty(self) -> float:
        """p_fmt of resample-on-correct: 1 for a missing or unclosed answer, else
        min((answers − 1) / turns, 1)."""
        if self.answers == 0 or self.answer_unclosed:
            return 1.0
        return min((self.answers - 1) / max(len(self.turns), 1), 1.0)

    @property
    def penalty(self) -> float:
        """p = p_err + p_fmt (lower is a cleaner trajectory)."""
        return self.tool_error_share + self.format_penalty


# -- building -----------------------------------------------------------------------------


def _observation_key(event: Event) -> str:
    payload = event.payload
    assert isinstance(payload, ObservationEvent)
    text = payload.observation.model_dump_json()
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _root(agent: str) -> str:
    return agent.split("/", 1)[0]


def episode_trajectories(
    events: EpisodeLog | Sequence[Event],
    *,
    run_id: str = "",
    agents: Iterable[str] | None = None,
    answer_format: AnswerFormat | None = None,
    masked_reasons: Sequence[str] = MASKED_REASONS,
    join: bool = True,
) -> list[Trajectory]:
    """The per-agent trajectories of one finished episode's events (agents in the order
    of their first model turn; scorers' judges left out).

    `agents` keeps only those agents; `answer_format` counts answers for the format
    penalty (default `tag_answers()`); `masked_reasons` are the end reasons that mark an
    environment/platform failure; `join=False` gives one segment per turn.
    """
    log = EpisodeLog.of(events)
    if not log.events:
        return []
    start = log.events[0].payload
    end = log.end
    if not isinstance(start, EpisodeStart) or end is None:
        raise ValueError(
            f"episode {log.episode_id!r} is not a finished log (expected "
            "episode_start first and an episode_end)"
        )
    counter = answer_format or tag_answers()
    wanted = set(agents) if agents is not None else None
    score: ScoreEvent | None = None
    steps: dict[int, dict[str, float]] = {}
    observation_keys: dict[tuple[int, str], str] = {}
    tool_counts: dict[str, list[int]] = {}
    faults = 0
    for e in log.events:
        p = e.payload
        if isinstance(p, ScoreEvent) and not p.scorer:
            score = p
        elif isinstance(p, EnvStep):
            steps[e.step] = p.rewards
        elif isinstance(p, ObservationEvent):
            observation_keys[(e.step, e.agent)] = _observation_key(e)
            results = p.observation.data.get("tool_results")
            counts = tool_counts.setdefault(e.agent, [0, 0])
            if isinstance(results, list):  # the structured form, with its error flags
                for r in results:
                    if isinstance(r, dict):
                        counts[0] += 1
                        counts[1] += bool(r.get("error"))
            else:  # only `tool` messages: an error is worded "Error: ..." (palaestra.tools)
                for m in p.observation.messages:
                    if m.role == "tool":
                        counts[0] += 1
                        counts[1] += (m.content or "").lstrip().startswith("Error")
        elif isinstance(p, ToolResultEvent):
            counts = tool_counts.setdefault(e.agent, [0, 0])
            counts[0] += 1
            counts[1] += p.is_error
        elif e.kind == "fault":
            faults += 1

    turns: dict[str, list[Turn]] = {}
    for e in log.of_kind("model_request"):
        p = e.payload
        if not isinstance(p, ModelRequestEvent) or is_judge(e.agent):
            continue
        if wanted is not None and e.agent not in wanted:
            continue
        replies = [
            r
            for r in log.responses_of(e)
            if isinstance(r.payload, ModelResponseEvent) and r.payload.error is None
        ]
        if not replies:
            continue
        reply = replies[-1]  # the last successful attempt wins
        rp = reply.payload
        assert isinstance(rp, ModelResponseEvent)
        if rp.message is None:
            continue
        agent_turns = turns.setdefault(e.agent, [])
        agent_turns.append(
            Turn(
                index=len(agent_turns),
                step=e.step,
                request_seq=e.seq,
                response_seq=reply.seq,
                messages=list(p.messages),
                tools=list(p.tools),
                response=rp.message,
                prompt_token_ids=rp.prompt_token_ids,
                token_ids=rp.token_ids,
                logprobs=rp.logprobs,
                finish_reason=rp.finish_reason,
                model=p.model,
                observation_key=observation_keys.get((e.step, _root(e.agent)), ""),
            )
        )

    job = log.episode_id.split("/", 1)[0]
    n_steps = max(end.steps, max(steps, default=-1) + 1)
    failed = end.reason in masked_reasons
    out: list[Trajectory] = []
    for agent, agent_turns in turns.items():
        root = _root(agent)
        step_rewards = [float(steps.get(s, {}).get(root, 0.0)) for s in range(n_steps)]
        # tool results reach an environment agent in its observations and through its
        # own tools; an internal agent `a/b` counts only its own tools' results
        calls, errors = tool_counts.get(agent, [0, 0])
        answers, unclosed = 0, False
        for turn in agent_turns:
            found = counter(turn.response.content or "")
            answers += found.answers
            unclosed = unclosed or found.unclosed
        out.append(
            Trajectory(
                run_id=run_id,
                episode_id=log.episode_id,
                key=GroupKey(job, start.task, start.seed, start.epoch, agent),
                env=start.env,
                turns=agent_turns,
                segments=join_segments(agent_turns, join=join),
                reward=score.value if score is not None else None,
                success=score.success if score is not None else None,
                step_rewards=step_rewards,
                steps=end.steps,
                end_reason=end.reason,
                env_failure=failed,
                end_error=end.error,
                tool_calls=calls,
                tool_errors=errors,
                answers=answers,
                answer_unclosed=unclosed,
                faults=faults,
            )
        )
    return out


def trajectories(
    store: Store,
    run_id: str,
    *,
    episodes: Iterable[EpisodeRow | str] | None = None,
    agents: Iterable[str] | None = None,
    where: Callable[[EpisodeRow], bool] | None = None,
    answer_format: AnswerFormat | None = None,
    masked_reasons: Sequence[str] = MASKED_REASONS,
    join: bool = True,
) -> list[Trajectory]:
    """Per-agent trajectories of a stored run's finished episodes, in episode order.

    `episodes` limits them to these rows or ids; `where` filters episode rows; the other
    options are those of `episode_trajectories`. Episodes still running are skipped (their
    log is not complete). A run id that is not in the store is a `UserError`.
    """
    if store.get_run(run_id) is None:
        known = ", ".join(r.run_id for r in store.list_runs()[-5:]) or "(none)"
        raise UserError(f"no run {run_id!r} in store {store.path}; recent runs: {known}")
    rows = store.episodes(run_id, status="finished")
    if episodes is not None:
        ids = {e if isinstance(e, str) else e.episode_id for e in episodes}
        rows = [r for r in rows if r.episode_id in ids]
    if where is not None:
        rows = [r for r in rows if where(r)]
    wanted = list(agents) if agents is not None else None
    out: list[Trajectory] = []
    with _collector_paused():
        for row in rows:
            out.extend(
                episode_trajectories(
                    store.events(run_id, row.episode_id),
                    run_id=run_id,
                    agents=wanted,
                    answer_format=answer_format,
                    masked_reasons=masked_reasons,
                    join=join,
                )
            )
    return out


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while trajectories accumulate: they keep every
    turn's prompt messages alive, and each young-generation pass would walk all of them
    again (its cost: docs/benchmarks.md, benchmarks/trajectories.py).
    Nothing built here forms reference cycles; collection resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
