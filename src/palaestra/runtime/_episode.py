"""The episode loop: reset, then steps of concurrent agent turns, then the episode's
end: the environment's `end_episode` hook, its score, `episode_end`.

This module owns the loop and what it records. Every episode that started (its `reset`
returned) ends, whatever ended it (the environment, `max_steps`, a budget, an error, a
contract), with the environment's optional ``end_episode()`` (its chance to record what
it held, e.g. a workspace's manifest, and release it; bounded by
`EpisodeLimits.end_episode_s`, run after a wall-time cut too) and the events it then
hands over through ``drain_events()``, then `score` (when the environment can still
score) and `episode_end`. An exception in an operator, tool, model or environment ends
the episode with `reason: error` and its traceback (none for a model that failed for
good: see `_trace`), after everything recorded so far has been kept.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.assurance import Contract
from palaestra.core import (
    Action,
    EndReason,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    ModelError,
    Observation,
    Operator,
    Payload,
    ScoreEvent,
    action_payload,
    described,
    observation_payload,
)
from palaestra.envs import Environment, Score, SupportsDrainEvents, SupportsEndEpisode
from palaestra.eval import BoundScorer
from palaestra.runtime._contracts import ContractsExtension
from palaestra.runtime._extensions import EpisodeRun, RunExtension, with_hook
from palaestra.runtime._recorder import (
    AgentContext,
    BudgetExceeded,
    EpisodeRecorder,
    EventRow,
    row_event,
)
from palaestra.runtime._scoring import ScorersExtension, env_target

Sink = Callable[[list[EventRow]], None]
"""Receives drained events as store rows (the store's `append_rows`)."""


@dataclass(frozen=True)
class EpisodeSpec:
    """Which episode to run."""

    episode_id: str
    job: str
    env_id: str
    task: str
    seed: int
    epoch: int = 0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EpisodeLimits:
    max_steps: int = 100
    """Steps before the runtime ends the episode (`reason: max_steps`)."""
    max_tokens: int | None = None
    """Input plus output tokens of the episode's model calls (`reason: budget`)."""
    max_wall_s: float | None = None
    """Wall-clock seconds of reset and steps (`reason: budget`); the episode's end
    (`end_episode`, score, scorers) runs after it."""
    end_episode_s: float = 30.0
    """Wall-clock seconds the environment's ``end_episode()`` may take (a workspace's
    manifest and teardown take well under one); past them the episode ends as an
    error, with what was recorded kept."""


@dataclass
class EpisodeOutcome:
    """What the runner needs to finish the episode in the store."""

    episode_id: str
    outcome: str
    reason: EndReason
    score: Score | None
    steps: int
    total_reward: float
    n_events: int
    input_tokens: int
    output_tokens: int
    wall_s: float
    hash: str
    error: str | None = None


def describe_operator(operator: Operator) -> str:
    return described(operator)


def _trace(exc: Exception) -> str | None:
    """The traceback recorded with an error that ended an episode; None for a `ModelError`.

    A model that failed for good (after its provider's retries) is a model error, not a
    bug: its attempts are in the log, one `model_response` each, and `error` says how it
    ended. Its traceback would only name the provider's code, which a replay answered
    from the log (`ReplayModel`) cannot reproduce, so an episode that ended that way
    would never replay identically.
    """
    return None if isinstance(exc, ModelError) else traceback.format_exc()


async def run_episode(
    spec: EpisodeSpec,
    env: Environment,
    operator_for: Callable[[str], Operator],
    *,
    run_seed: int = 0,
    limits: EpisodeLimits = EpisodeLimits(),
    sink: Sink | None = None,
    extensions: Sequence[RunExtension] = (),
    contracts: Sequence[Contract] = (),
    scorers: Sequence[BoundScorer] = (),
) -> EpisodeOutcome:
    """Run one episode to its end, recording every event; never raises for the
    episode's own failures (they end it with `reason: error`). `extensions` see the
    episode (`RunExtension.on_episode_start`, `on_event`, `on_episode_end`, in order);
    their wrappers were applied where the environment and operators were built
    (`JobPlan`). `contracts` and `scorers` are shorthands for the `contracts` and
    `scorers` extensions: contracts are checked online (a violated contract with
    `on_violation: end` ends the episode with `reason: contract`); scorers score the
    log after the environment, each recorded as a `score` event before `episode_end`."""
    started = time.perf_counter()
    if contracts or scorers:
        extensions = [*extensions, *_shorthands(contracts, scorers)]
    rec = EpisodeRecorder(spec.episode_id, run_seed=run_seed, max_tokens=limits.max_tokens)
    episode: EpisodeRun | None = None
    if extensions:
        episode = EpisodeRun(spec, rec, env)
        if any(ext.wants_log for ext in extensions):  # keep the rows handed over
            kept: list[EventRow] = []
            sink = _keeping(sink, kept)
            episode._events = _log_reader(rec, sink, kept)
        for ext in with_hook(extensions, "on_episode_start"):
            ext.on_episode_start(episode)
        rec.monitor = _observer(episode, with_hook(extensions, "on_event"))
    state = _LoopState()
    reason: EndReason = "done"
    error: str | None = None
    trace: str | None = None
    try:
        if limits.max_wall_s is not None:
            async with asyncio.timeout(limits.max_wall_s):
                reason = await _loop(spec, env, operator_for, rec, limits, state, sink)
        else:
            reason = await _loop(spec, env, operator_for, rec, limits, state, sink)
    except BudgetExceeded as exc:
        reason, error = "budget", str(exc)
    except TimeoutError:
        reason = "budget"
        error = f"wall-time budget of {limits.max_wall_s} s exceeded (limits.max_wall_s)"
    except Exception as exc:
        reason, error = "error", f"{type(exc).__name__}: {exc}"
        trace = _trace(exc)
    for turn in state.open_turns:
        rec.flush_turn(turn)
    state.open_turns = []
    if rec.count == 0:  # failed before episode_start (e.g. in reset)
        rec.emit(0, "env", _start_payload(spec, env, {}))
    if state.started:  # the environment ends its episode, however it ended
        problem = await _end_episode(env, rec, state.step, limits.end_episode_s)
        if problem is not None and reason != "error":
            reason, error, trace = "error", problem[0], problem[1]

    score: Score | None = None
    if state.started:
        try:
            score = env.score()
            rec.emit(
                state.step,
                "env",
                ScoreEvent(
                    value=float(score.value),
                    success=bool(score.success),
                    metrics={k: float(v) for k, v in score.metrics.items()},
                    explanation=score.explanation,
                    target=env_target(env),
                ),
            )
        except Exception as exc:
            if reason != "error":
                reason, error = "error", f"score() failed: {type(exc).__name__}: {exc}"
                trace = traceback.format_exc()
    if reason == "contract":
        error = rec.stopped_by
    if episode is not None:  # contract verdicts, scorers, ...: before episode_end
        episode.started, episode.step = state.started, state.step
        for ext in with_hook(extensions, "on_episode_end"):
            await ext.on_episode_end(episode)
    if reason == "error":
        outcome = "error"
    else:
        outcome = "success" if score is not None and score.success else "failure"
    wall = time.perf_counter() - started
    usage = rec.usage
    rec.emit(
        state.step,
        "env",
        EpisodeEnd(
            outcome=outcome,
            reason=reason,
            steps=state.step,
            total_reward=state.total_reward,
            usage=usage,
            error=error,
            traceback=trace,
        ),
        duration_s=wall,
    )
    if sink is not None:
        sink(rec.drain())
    return EpisodeOutcome(
        episode_id=spec.episode_id,
        outcome=outcome,
        reason=reason,
        score=score,
        steps=state.step,
        total_reward=state.total_reward,
        n_events=rec.count,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        wall_s=wall,
        hash=rec.hexdigest(),
        error=error,
    )


def _shorthands(
    contracts: Sequence[Contract], scorers: Sequence[BoundScorer]
) -> list[RunExtension]:
    out: list[RunExtension] = [ContractsExtension(contracts)] if contracts else []
    return [*out, ScorersExtension(scorers)] if scorers else out


class _Observer:
    """The recorder's per-event call, handed on to the extensions' `on_event`."""

    __slots__ = ("episode", "hooks")

    def __init__(self, episode: EpisodeRun, hooks: list[RunExtension]):
        self.episode = episode
        self.hooks = [ext.on_event for ext in hooks]

    def on_append(
        self,
        seq: int,
        step: int,
        agent: str,
        payload: Any,
        parent: int | None,
        when: float,
    ) -> None:
        episode = self.episode
        for hook in self.hooks:
            hook(episode, seq, step, agent, payload, parent, when)


def _observer(episode: EpisodeRun, hooks: list[RunExtension]) -> _Observer | None:
    return _Observer(episode, hooks) if hooks else None


def _log_reader(
    rec: EpisodeRecorder, sink: Sink, kept: list[EventRow]
) -> Callable[[], list[Event]]:
    def events() -> list[Event]:
        sink(rec.drain())  # what the recorder still holds, kept too
        return [row_event(row) for row in kept]

    return events


@dataclass
class _LoopState:
    step: int = 0
    total_reward: float = 0.0
    started: bool = False
    open_turns: list[AgentContext] = field(default_factory=list)


def _start_payload(spec: EpisodeSpec, env: Environment, operators: dict[str, str]) -> EpisodeStart:
    try:
        agents = list(env.agents)
    except Exception:
        agents = []
    return EpisodeStart(
        env=spec.env_id,
        task=spec.task,
        seed=spec.seed,
        epoch=spec.epoch,
        agents=agents,
        params=spec.params,
        operators=operators,
    )


async def _loop(
    spec: EpisodeSpec,
    env: Environment,
    operator_for: Callable[[str], Operator],
    rec: EpisodeRecorder,
    limits: EpisodeLimits,
    state: _LoopState,
    sink: Sink | None,
) -> EndReason:
    observations = await env.reset(spec.seed, spec.task)
    agents = list(env.agents)
    operators = {agent: operator_for(agent) for agent in agents}
    start = rec.emit(
        0,
        "env",
        _start_payload(spec, env, {a: describe_operator(op) for a, op in operators.items()}),
    )
    state.started = True
    # An environment (a wrapper such as FaultyEnvironment) may report events of its own
    # (`fault`): recorded under agent `env` after episode_start and after each env_step.
    drain = env.drain_events if isinstance(env, SupportsDrainEvents) else None
    if drain is not None:
        _record_env_events(rec, drain, 0, start)
    while True:
        if rec.stopped_by is not None:  # a contract with on_violation: end failed
            return "contract"
        if state.step >= limits.max_steps:
            return "max_steps"
        unknown = [a for a in observations if a not in operators]
        if unknown:
            raise RuntimeError(
                f"environment {spec.env_id!r} returned observations for unknown agents "
                f"{unknown}; its agents are {agents}"
            )
        acting = [a for a in agents if a in observations]
        if not acting:
            raise RuntimeError(
                f"environment {spec.env_id!r} returned no observations at step "
                f"{state.step} but did not terminate or truncate"
            )
        turns = []
        for agent in acting:
            handle = rec.emit(
                state.step,
                agent,
                observation_payload(_as_observation(observations[agent])),
            )
            turns.append(AgentContext(rec, agent, state.step, handle))
        state.open_turns = turns
        results: list[Any]
        if len(turns) == 1:  # one agent acts: no task to create and gather
            turn = turns[0]
            try:
                results = [await operators[turn.agent].act(observations[turn.agent], turn)]
            except Exception as exc:
                results = [exc]
        else:
            results = await asyncio.gather(
                *(operators[t.agent].act(observations[t.agent], t) for t in turns),
                return_exceptions=True,
            )
        actions: dict[str, Action] = {}
        failure: BaseException | None = None
        for turn, result in zip(turns, results, strict=True):
            rec.flush_turn(turn)
            if isinstance(result, BaseException):
                failure = failure or result
            elif not isinstance(result, Action):
                failure = failure or TypeError(
                    f"operator of agent {turn.agent!r} returned {type(result).__name__}, "
                    "expected palaestra.core.Action"
                )
            else:
                actions[turn.agent] = result
                rec.emit(state.step, turn.agent, action_payload(result), parent=turn.turn_event)
        state.open_turns = []
        if failure is not None:
            raise failure
        if rec.stopped_by is not None:  # the actions never reach the environment
            return "contract"
        try:
            result_step = await env.step(actions)
        except BaseException:
            if drain is not None:  # e.g. the injected fault that failed the step
                _record_env_events(rec, drain, state.step, None)
            raise
        rewards = {k: float(v) for k, v in result_step.rewards.items()}
        stepped = rec.emit(
            state.step,
            "env",
            EnvStep(
                rewards=rewards,
                terminated=bool(result_step.terminated),
                truncated=bool(result_step.truncated),
                info=result_step.info,
            ),
        )
        if drain is not None:
            _record_env_events(rec, drain, state.step, stepped)
        state.step += 1
        state.total_reward += sum(rewards.values())
        if sink is not None:
            sink(rec.drain())
        if result_step.terminated:
            return "done"
        if result_step.truncated:
            return "truncated"
        observations = result_step.observations


def _keeping(sink: Sink | None, kept: list[EventRow]) -> Sink:
    def keep(rows: list[EventRow]) -> None:
        kept.extend(rows)
        if sink is not None:
            sink(rows)

    return keep


def _record_env_events(
    rec: EpisodeRecorder, drain: Callable[[], list[Payload]], step: int, parent: int | None
) -> None:
    for payload in drain():
        rec.emit(step, "env", payload, parent=parent)


async def _end_episode(
    env: Environment, rec: EpisodeRecorder, step: int, timeout_s: float
) -> tuple[str, str | None] | None:
    """Call the environment's optional ``end_episode()`` (sync or async; at most
    `timeout_s`), then record the events it hands over (``drain_events()``, under agent
    `env`, at the last step, no parent): those queued before a failure of the hook too.
    Returns what went wrong (error line, traceback), or None."""
    problem: tuple[str, str | None] | None = None
    hook = env.end_episode if isinstance(env, SupportsEndEpisode) else None
    if hook is not None:
        budget = asyncio.timeout(timeout_s)
        try:
            async with budget:
                result = hook()
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:
            if isinstance(exc, TimeoutError) and budget.expired():
                problem = (f"end_episode() did not return within {timeout_s:g} s", None)
            else:
                problem = (_failed("end_episode()", exc), traceback.format_exc())
    drain = env.drain_events if isinstance(env, SupportsDrainEvents) else None
    if drain is not None:
        try:
            _record_env_events(rec, drain, step, None)
        except Exception as exc:
            problem = problem or (_failed("drain_events()", exc), traceback.format_exc())
    return problem


def _failed(what: str, exc: BaseException) -> str:
    return f"{what} failed: {type(exc).__name__}: {exc}"


def _as_observation(value: Any) -> Observation:
    if isinstance(value, Observation):
        return value
    raise TypeError(
        f"environment returned {type(value).__name__} as an observation, "
        "expected palaestra.core.Observation"
    )
