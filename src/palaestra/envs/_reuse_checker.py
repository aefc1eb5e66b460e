"""`check_reuse`: does one instance, reused episode after episode, play exactly like a
fresh instance? The test of the reset contract (see `Environment`: "Reusing an
instance") that an environment must pass before it declares ``reusable = True``.

It plays a sequence of episodes (tasks × seeds, then the first one again) twice:

- each on a **fresh** instance, with the actions of the registered baseline (or of
  `actions` / `operators`, as `check_env` takes them): the reference;
- all on **one reused** instance, in order, each replaying its reference's actions.

Every observation of `reset` and of each `step`, every reward, info, drained event and
the score must be equal; the first difference raises `EnvCheckError` naming the episode
(its place in the sequence, task and seed), the call (``reset``, ``step() #k``,
``score()``) and the value that differs. State that leaks from one episode into the
next (a nested dict copied shallowly, a class-level list, a counter never reset) shows
up as such a difference.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from palaestra.core import Operator, release
from palaestra.envs import _registry
from palaestra.envs._checker import (
    ActionFn,
    EnvCheckError,
    _agents,
    _dump_obs,
    _dump_step,
    _end,
    _first_difference,
    _play,
    _Played,
    _registered_baseline,
    _reset,
    _score,
    _spec_baseline,
    _step,
)
from palaestra.envs._protocol import Environment


@dataclass
class ReuseCheckReport:
    """What `check_reuse` played: the episodes (task, seed) in order, and their steps."""

    episodes: list[tuple[str, int]]
    steps: int
    """Steps played on the reused instance, all episodes together."""
    actions: str
    """Where the actions came from (the registered baseline, the caller, empty)."""


async def check_reuse(
    env: str | Callable[[], Environment],
    *,
    tasks: int | Sequence[str] = 3,
    seeds: Sequence[int] = (0, 1),
    max_steps: int = 200,
    actions: ActionFn | None = None,
    operators: Callable[[str], Operator] | None = None,
    params: dict[str, Any] | None = None,
) -> ReuseCheckReport:
    """Check that `env` (a registered id built with `params`, or a function that builds
    a fresh instance) can be reused across episodes.

    `tasks`: how many of ``tasks()`` (the first ones), or which; `seeds`: the seeds of
    each task. The episodes are every (task, seed) in that order, then the first again.
    Actions as in `check_env`: `actions`, else `operators`, else the registered baseline,
    else empty ``Action()``s."""
    if actions is not None and operators is not None:
        raise ValueError("pass either actions or operators, not both")
    source = "the caller's actions" if actions is not None else "the caller's operators"
    if isinstance(env, str):
        spec = _registry.get_spec(env)
        validated = spec.validate(params or {})
        build: Callable[[], Environment] = lambda: spec.factory(validated)  # noqa: E731
        if operators is None and actions is None:
            operators, source = _spec_baseline(spec, validated)
    else:
        build = env
    reused = build()
    try:
        if operators is None and actions is None:
            operators, source = _registered_baseline(reused)
        offered = list(reused.tasks())
        chosen = offered[:tasks] if isinstance(tasks, int) else list(tasks)
        episodes = [(task, seed) for task in chosen for seed in seeds]
        if not episodes:
            raise ValueError("check_reuse needs at least one task and one seed")
        episodes.append(episodes[0])
        steps = 0
        for number, (task, seed) in enumerate(episodes, start=1):
            fresh = build()
            try:
                reference = await _play(fresh, seed, task, max_steps, actions, operators)
            finally:
                await release(fresh)
            where = f"episode {number} of {len(episodes)} (task {task!r}, seed {seed})"
            steps += await _replay_reused(reused, seed, task, reference, where)
    finally:
        await release(reused)
    return ReuseCheckReport(episodes=episodes, steps=steps, actions=source)


def check_reuse_sync(env: str | Callable[[], Environment], **kwargs: Any) -> ReuseCheckReport:
    """`check_reuse` for code that is not async (runs its own event loop)."""
    return asyncio.run(check_reuse(env, **kwargs))


async def _replay_reused(
    env: Environment, seed: int, task: str, reference: _Played, where: str
) -> int:
    """Replay `reference` on the reused `env`; the number of steps played."""
    observations = await _reset(env, seed, task)
    agents = _agents(env)
    _same(where, "agents", reference.agents, agents)
    _same(where, f"reset(seed={seed}, task={task!r})", reference.reset, _dump_obs(observations))
    played = zip(reference.actions, reference.steps, strict=True)
    for index, (chosen, expected) in enumerate(played):
        step = await _step(env, chosen, index, agents)
        _same(where, f"step() #{index}", expected, _dump_step(step))
    _same(where, "drain_events() at the episode's end", reference.events, await _end(env))
    score = _score(env)
    _same(
        where,
        "score()",
        (reference.score.value, reference.score.success, reference.score.metrics),
        (score.value, score.success, score.metrics),
    )
    return len(reference.steps)


def _same(where: str, call: str, fresh: Any, reused: Any) -> None:
    if fresh != reused:
        raise EnvCheckError(
            f"state leaks between episodes: {where}, {call} on the reused instance differs "
            f"from a fresh instance's (expected what a fresh instance gives, got a "
            f"difference: {_first_difference(fresh, reused)}). Reset must rebuild every "
            f"piece of episode state (deep copies of initial data, no class-level "
            f"mutable state); or leave the environment not reusable."
        )
