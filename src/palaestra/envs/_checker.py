"""`check_env`: verify that an environment keeps the contract of `Environment`, like
Gymnasium's ``env_checker``.

It plays one episode with simple actions (the environment's registered baseline operator
when there is one, else empty ``Action()``s, or what the caller passes), checking types at
every call, then plays it again from the same seed and task with the same actions and
checks that everything came out equal. A failure raises `EnvCheckError` (an
``AssertionError``) whose message names the method and reads "expected X, got Y".

What is checked:

- ``agents``: a non-empty list of str, the same after two resets with the same arguments;
- ``tasks()``: a non-empty list of str;
- ``reset(seed, task)``: a non-empty dict[str, Observation] whose keys are agents;
- ``step(actions)``: a `Step` whose observations are a dict[str, Observation] keyed by
  agents (non-empty unless the episode ended), rewards a dict[str, float], terminated and
  truncated bools, info a JSON-serialisable dict; the episode ends within ``max_steps``;
- ``score()``: a `Score` with value a float in [0, 1], success a bool, metrics a
  dict[str, float];
- the optional hooks, where the environment has them (see `Environment`): at the
  episode's end ``end_episode()`` (awaited, before ``score()``, as the runtime does),
  then ``drain_events()``: a list of event payloads (`palaestra.core.Payload`);
- determinism: equal observations after two resets with the same seed and task; equal
  steps, equal drained events (a workspace's manifest among them) and an equal score
  for the same action sequence.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import random
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import Action, Observation, Operator, Payload, Usage, derive_rng
from palaestra.envs import _registry
from palaestra.envs._protocol import (
    Environment,
    Score,
    Step,
    SupportsDrainEvents,
    SupportsEndEpisode,
)

ActionFn = Callable[[str, Observation], "Action | Awaitable[Action]"]
"""``actions(agent, observation)`` -> the agent's action (sync or async)."""


class EnvCheckError(AssertionError):
    """An environment broke its contract; the message says where and how."""


@dataclass
class EnvCheckReport:
    """What `check_env` played: the task, the number of steps, the final score."""

    task: str
    steps: int
    score: Score
    agents: list[str] = field(default_factory=list)
    actions: str = ""
    """Where the actions came from: the registered baseline (which one), the caller's
    actions or operators, or empty ``Action()``s and why no baseline was found."""


async def check_env(
    env: Environment | str,
    *,
    seed: int = 0,
    task: str | None = None,
    max_steps: int = 200,
    actions: ActionFn | None = None,
    operators: Callable[[str], Operator] | None = None,
    params: dict[str, Any] | None = None,
) -> EnvCheckReport:
    """Check `env` (an instance, or a registered id built with `params`).

    Actions come from `actions(agent, observation)`, else from `operators(agent)` (one
    operator per agent, run with a minimal context), else from the registered baseline of
    the environment (found by its id, or for an instance by its ``params`` attribute and
    the spec that builds its class, whether the factory is the class or a function),
    else they are empty ``Action()``s. The report's `actions` says which, and why there
    was no baseline. `task` defaults to ``tasks()[0]``.
    """
    if actions is not None and operators is not None:
        raise ValueError("pass either actions or operators, not both")
    source = "the caller's actions" if actions is not None else "the caller's operators"
    if isinstance(env, str):
        spec = _registry.get_spec(env)
        validated = spec.validate(params or {})
        env = spec.factory(validated)
        if operators is None and actions is None:
            operators, source = _spec_baseline(spec, validated)
    elif operators is None and actions is None:
        operators, source = _registered_baseline(env)

    tasks = _call("tasks", env.tasks)
    _expect_list_of_str("tasks()", tasks)
    task = task if task is not None else tasks[0]

    first = await _play(env, seed, task, max_steps, actions, operators)
    second = await _replay(env, seed, task, first)
    _compare_scores(first.score, second)
    return EnvCheckReport(
        task=task,
        steps=len(first.steps),
        score=first.score,
        agents=first.agents,
        actions=source,
    )


def check_env_sync(env: Environment | str, **kwargs: Any) -> EnvCheckReport:
    """`check_env` for code that is not async (runs its own event loop)."""
    return asyncio.run(check_env(env, **kwargs))


# -- the two plays ----------------------------------------------------------------------


@dataclass
class _Played:
    """The first play, as dumps taken at once (an env may reuse its objects)."""

    agents: list[str]
    reset: dict[str, Any]
    actions: list[dict[str, Action]]
    steps: list[dict[str, Any]]
    score: Score
    events: list[dict[str, Any]] = field(default_factory=list)
    """What ``drain_events()`` gave at the episode's end (after ``end_episode()``)."""


async def _play(
    env: Environment,
    seed: int,
    task: str,
    max_steps: int,
    actions: ActionFn | None,
    operators: Callable[[str], Operator] | None,
) -> _Played:
    observations = await _reset(env, seed, task)
    agents = _agents(env)
    _expect_keys(f"reset(seed={seed}, task={task!r})", observations, agents)
    contexts: dict[str, _CheckContext] = {}
    built: dict[str, Operator] = {}
    played = _Played(agents, _dump_obs(observations), actions=[], steps=[], score=Score(0, False))
    for index in range(max_steps):
        chosen: dict[str, Action] = {}
        for agent, observation in observations.items():
            if actions is not None:
                result = actions(agent, observation)
                action = await result if inspect.isawaitable(result) else result
            elif operators is not None:
                if agent not in built:
                    built[agent] = operators(agent)
                    contexts[agent] = _CheckContext(seed, f"check-{task}", agent)
                contexts[agent].step = index
                action = await built[agent].act(observation, contexts[agent])
            else:
                action = Action()
            if not isinstance(action, Action):
                raise EnvCheckError(
                    f"action source for agent {agent!r}: expected Action, got {_kind(action)}"
                )
            chosen[agent] = action
        step = await _step(env, chosen, index, agents)
        played.actions.append({a: act.model_copy(deep=True) for a, act in chosen.items()})
        played.steps.append(_dump_step(step))
        if step.terminated or step.truncated:
            played.events = await _end(env)
            played.score = _score(env)
            return played
        observations = step.observations
    raise EnvCheckError(
        f"step(): expected the episode to end (terminated or truncated) within "
        f"{max_steps} steps, got neither after {max_steps} steps"
    )


async def _replay(env: Environment, seed: int, task: str, first: _Played) -> Score:
    where = f"reset(seed={seed}, task={task!r})"
    observations = await _reset(env, seed, task)
    agents = _agents(env)
    if agents != first.agents:
        raise EnvCheckError(f"agents after a second {where}: expected {first.agents}, got {agents}")
    _expect_equal(where + " called twice", first.reset, _dump_obs(observations))
    for index, (chosen, expected) in enumerate(zip(first.actions, first.steps, strict=True)):
        step = await _step(env, chosen, index, agents)
        _expect_equal(
            f"step() #{index} replayed with the same actions",
            expected,
            _dump_step(step),
        )
    _expect_equal(
        "drain_events() at the end of the episode replayed with the same actions",
        first.events,
        await _end(env),
    )
    return _score(env)


# -- single calls, with their type checks -----------------------------------------------


def _call(name: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:
        raise EnvCheckError(f"{name}(): expected a value, got {type(exc).__name__}: {exc}") from exc


def _agents(env: Environment) -> list[str]:
    agents = env.agents
    _expect_list_of_str("agents", agents)
    return list(agents)


async def _reset(env: Environment, seed: int, task: str) -> dict[str, Observation]:
    where = f"reset(seed={seed}, task={task!r})"
    try:
        observations = await env.reset(seed, task)
    except Exception as exc:
        raise EnvCheckError(
            f"{where}: expected observations, got {type(exc).__name__}: {exc}"
        ) from exc
    _expect_obs_dict(where, observations)
    _agents(env)
    if not observations:
        raise EnvCheckError(f"{where}: expected an observation for at least one agent, got {{}}")
    return observations


async def _step(env: Environment, chosen: dict[str, Action], index: int, agents: list[str]) -> Step:
    where = f"step() #{index}"
    try:
        step = await env.step(chosen)
    except Exception as exc:
        raise EnvCheckError(f"{where}: expected a Step, got {type(exc).__name__}: {exc}") from exc
    if not isinstance(step, Step):
        raise EnvCheckError(f"{where}: expected a Step, got {_kind(step)}")
    _expect_obs_dict(where + " observations", step.observations)
    _expect_keys(where + " observations", step.observations, agents)
    if not isinstance(step.rewards, dict):
        raise EnvCheckError(
            f"{where} rewards: expected dict[str, float], got {_kind(step.rewards)}"
        )
    for agent, reward in step.rewards.items():
        if not isinstance(agent, str) or not _is_number(reward):
            raise EnvCheckError(
                f"{where} rewards: expected dict[str, float], got {agent!r}: {_kind(reward)}"
            )
    _expect_keys(where + " rewards", step.rewards, agents)
    for name in ("terminated", "truncated"):
        value = getattr(step, name)
        if type(value) is not bool:
            raise EnvCheckError(f"{where} {name}: expected bool, got {_kind(value)}")
    if not isinstance(step.info, dict):
        raise EnvCheckError(f"{where} info: expected a dict, got {_kind(step.info)}")
    try:
        json.dumps(step.info, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EnvCheckError(f"{where} info: expected JSON-serialisable values, got {exc}") from exc
    if not (step.terminated or step.truncated) and not step.observations:
        raise EnvCheckError(
            f"{where}: expected observations for the agents that act next (the episode "
            "is not over), got none"
        )
    return step


async def _end(env: Environment) -> list[dict[str, Any]]:
    """The episode's end as the runtime makes it: ``end_episode()`` then
    ``drain_events()`` (each where the environment has it); the events, dumped."""
    if isinstance(env, SupportsEndEpisode):
        try:
            result = env.end_episode()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            raise EnvCheckError(
                f"end_episode(): expected None, got {type(exc).__name__}: {exc}"
            ) from exc
    if not isinstance(env, SupportsDrainEvents):
        return []
    events = _call("drain_events", env.drain_events)
    if not isinstance(events, list) or not all(isinstance(e, Payload) for e in events):
        raise EnvCheckError(
            f"drain_events(): expected a list of event payloads, got {_kind(events)}"
        )
    return [{"kind": e.kind, **e.model_dump(mode="json")} for e in events]


def _score(env: Environment) -> Score:
    score = _call("score", env.score)
    if not isinstance(score, Score):
        raise EnvCheckError(f"score(): expected a Score, got {_kind(score)}")
    if not _is_number(score.value) or not 0.0 <= score.value <= 1.0:
        raise EnvCheckError(f"score(): expected value a float in [0, 1], got {score.value!r}")
    if type(score.success) is not bool:
        raise EnvCheckError(f"score(): expected success a bool, got {_kind(score.success)}")
    if not isinstance(score.metrics, dict) or not all(
        isinstance(k, str) and _is_number(v) for k, v in score.metrics.items()
    ):
        raise EnvCheckError(f"score(): expected metrics a dict[str, float], got {score.metrics!r}")
    return score


def _compare_scores(first: Score, second: Score) -> None:
    _expect_equal(
        "score() after replaying the same actions",
        (first.value, first.success, first.metrics),
        (second.value, second.success, second.metrics),
    )


# -- helpers ----------------------------------------------------------------------------


def _expect_list_of_str(where: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise EnvCheckError(f"{where}: expected a list of str, got {_kind(value)}")
    if not value:
        raise EnvCheckError(f"{where}: expected a non-empty list of str, got []")


def _expect_obs_dict(where: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise EnvCheckError(f"{where}: expected dict[str, Observation], got {_kind(value)}")
    for agent, observation in value.items():
        if not isinstance(agent, str) or not isinstance(observation, Observation):
            raise EnvCheckError(
                f"{where}: expected dict[str, Observation], got {agent!r}: {_kind(observation)}"
            )


def _expect_keys(where: str, value: dict[str, Any], agents: list[str]) -> None:
    unknown = sorted(set(value) - set(agents))
    if unknown:
        raise EnvCheckError(f"{where}: expected keys among agents {agents}, got {unknown}")


def _expect_equal(where: str, expected: Any, got: Any) -> None:
    if expected != got:
        raise EnvCheckError(
            f"{where}: expected the same result (the environment must be deterministic in "
            f"seed, task and actions), got a difference: {_first_difference(expected, got)}"
        )


def _first_difference(expected: Any, got: Any, path: str = "") -> str:
    if isinstance(expected, dict) and isinstance(got, dict):
        for key in list(expected) + [k for k in got if k not in expected]:
            if key not in got or key not in expected or expected[key] != got[key]:
                sub = f"{path}[{key!r}]"
                if key in got and key in expected:
                    return _first_difference(expected[key], got[key], sub)
                want, have = expected.get(key, "<absent>"), got.get(key, "<absent>")
                return f"{sub}: expected {want!r:.200}, got {have!r:.200}"
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        for i, (a, b) in enumerate(zip(expected, got, strict=False)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return f"{path or 'value'}: expected {expected!r:.200}, got {got!r:.200}"


def _dump_obs(observations: dict[str, Observation]) -> dict[str, Any]:
    return {agent: obs.model_dump(mode="json") for agent, obs in observations.items()}


def _dump_step(step: Step) -> dict[str, Any]:
    return {
        "observations": _dump_obs(step.observations),
        "rewards": step.rewards,
        "terminated": step.terminated,
        "truncated": step.truncated,
        "info": json.loads(json.dumps(step.info)),
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:80]})"


NO_ACTIONS = "empty Action()s"


def _spec_baseline(spec: Any, params: Any) -> tuple[Callable[[str], Operator] | None, str]:
    """The baseline operators a registration offers for `params`, and where the actions
    come from (said in the report)."""
    baseline = spec.baseline
    if baseline is None:
        return None, f"{NO_ACTIONS}: {spec.id!r} has no registered baseline"
    return (lambda agent: baseline(params, agent)), f"the registered baseline of {spec.id!r}"


def _registered_baseline(env: Environment) -> tuple[Callable[[str], Operator] | None, str]:
    """The baseline of the registered environment this instance was built by, and where
    the actions come from (said in the report: never a silent fallback).

    Found by the instance's ``params`` (the validated parameters the baseline is built
    from) and the spec that builds its class: the spec's factory is the class, or a
    function annotated to return it; else the one registered spec with a baseline whose
    parameter model ``params`` is an instance of."""
    params = getattr(env, "params", None)
    if params is None:
        return None, (
            f"{NO_ACTIONS}: the instance has no `params` attribute to build a registered "
            f"baseline from (pass operators= or actions=, or check it by its registered id)"
        )
    specs = [s for s in _registry._REGISTRY.values() if s.baseline is not None]
    builds = [s for s in specs if _builds(s.factory, env)]
    takes = [s for s in specs if isinstance(s.params, type) and isinstance(params, s.params)]
    found = builds or takes
    if len(found) != 1:
        why = (
            "no registered environment with a baseline builds "
            f"{type(env).__qualname__} from {type(params).__qualname__}"
            if not found
            else "several registered environments could have built it: "
            + ", ".join(sorted(s.id for s in found))
        )
        return None, f"{NO_ACTIONS}: {why} (pass operators=, or check it by its registered id)"
    spec = found[0]
    baseline = spec.baseline
    assert baseline is not None
    return (lambda agent: baseline(params, agent)), f"the registered baseline of {spec.id!r}"


def _builds(factory: Any, env: Environment) -> bool:
    """Whether `factory` (a class, or a function annotated with its return type) builds
    instances of `env`'s exact class."""
    if factory is type(env):
        return True
    if isinstance(factory, type):
        return False
    try:
        returned = typing.get_type_hints(factory).get("return")
    except Exception:  # an annotation that cannot be resolved says nothing
        return False
    return returned is type(env)


class _CheckContext:
    """The least `Context` an operator needs to act: seeds, no recording, no budget."""

    def __init__(self, seed: int, episode_id: str, agent: str):
        self._seed = seed
        self._episode_id = episode_id
        self._agent = agent
        self._rngs: dict[str, random.Random] = {}
        self._events = 0
        self.step = 0

    @property
    def episode_id(self) -> str:
        return self._episode_id

    @property
    def agent(self) -> str:
        return self._agent

    @property
    def turn_event(self) -> int:
        return self._events

    def rng(self, purpose: str) -> random.Random:
        if purpose not in self._rngs:
            self._rngs[purpose] = derive_rng(self._seed, self._episode_id, self._agent, purpose)
        return self._rngs[purpose]

    def emit(self, payload: Payload, *, parent: int | None = None, duration_s: float = 0.0) -> int:
        self._events += 1
        return self._events

    def add_usage(self, usage: Usage) -> None:
        return None

    def child(self, name: str, *, parent: int | None = None) -> _CheckContext:
        return _CheckContext(self._seed, self._episode_id, f"{self._agent}/{name}")
