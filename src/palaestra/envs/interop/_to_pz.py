"""`PettingZooEnv`: a palaestra environment as a `pettingzoo.ParallelEnv`.

Every agent is live from ``reset`` until the episode ends, when all of them terminate
(or truncate) together, as palaestra's episodes do. At each step every live agent gets
an observation, a reward, the two flags and an info, as PettingZoo requires; but only
the agents the palaestra environment asked to act (``info[agent]["acting"]``) have their
actions forwarded. The others read `WAITING` and their actions are ignored; an acting
agent without an action sends an empty `Action`. On the last step every agent's info
holds the verified ``score`` and the ``events`` the environment has for the log at the
episode's end (its ``end_episode()`` is called then; e.g. a workspace's manifest).

Spaces, per agent and cached (the same object on every call): observations are
`AnyText` (any string up to ``max_text`` characters), actions `AnyText` strings up to
``max_action_text`` characters read by `to_action` (a JSON object of `Action` fields, or
plain text); an `Action` or a dict of its fields is accepted too.

``reset(seed, options)``: the palaestra seed is ``seed`` (or drawn from the adapter's
generator when None); the task is ``options["task"]``, else the fixed ``task``, else one
drawn from ``tasks()``. Other option keys are ignored (PettingZoo's ``parallel_api_test``
passes arbitrary ones). ``possible_agents`` are the agents of the latest reset (one probe
reset at construction).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pettingzoo import ParallelEnv

from palaestra.core import Action, Observation, UserError
from palaestra.envs._protocol import Environment, Score
from palaestra.envs.interop._common import (
    DEFAULT_MAX_ACTION_TEXT,
    DEFAULT_MAX_TEXT,
    LoopThread,
    close_env,
    end_episode,
    observation_info,
    observation_text,
    resolve_env,
    to_action,
)
from palaestra.envs.interop._spaces import AnyText

WAITING = "(you do not act at this step)"
"""The observation text of a live agent that the environment did not ask to act."""

_SEED_BOUND = 2**31 - 1


class PettingZooEnv(ParallelEnv[str, str, Any]):
    """A palaestra `Environment` (or registered id) as a PettingZoo parallel env."""

    metadata = {"name": "palaestra", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        env: Environment | str,
        *,
        params: dict[str, Any] | None = None,
        task: str | None = None,
        max_text: int = DEFAULT_MAX_TEXT,
        max_action_text: int = DEFAULT_MAX_ACTION_TEXT,
        render_mode: str | None = None,
    ):
        if render_mode not in (None, "ansi"):
            raise UserError(f"render_mode: expected None or 'ansi', got {render_mode!r}")
        self.env = resolve_env(env, params)
        self.render_mode = render_mode
        self.max_text = max_text
        self.max_action_text = max_action_text
        self._loop = LoopThread("palaestra-pettingzoo-loop")
        self._closed = False
        self._tasks = list(self.env.tasks())
        self.task = self._check_task(task)
        self._rng = np.random.default_rng()
        self._loop.run(self.env.reset(0, task or self._tasks[0]))
        self.possible_agents: list[str] = list(self.env.agents)
        self.agents: list[str] = []
        self._acting: set[str] = set()
        self._texts: dict[str, str] = {}
        self._observation_spaces: dict[str, AnyText] = {}
        self._action_spaces: dict[str, AnyText] = {}

    def observation_space(self, agent: str) -> AnyText:
        space = self._observation_spaces.get(agent)
        if space is None:
            space = self._observation_spaces[agent] = AnyText(self.max_text)
        return space

    def action_space(self, agent: str) -> AnyText:
        space = self._action_spaces.get(agent)
        if space is None:
            space = self._action_spaces[agent] = AnyText(self.max_action_text)
        return space

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            episode_seed = seed
        else:
            episode_seed = int(self._rng.integers(_SEED_BOUND))
        task = self._check_task((options or {}).get("task", self.task))
        if task is None:
            task = self._tasks[int(self._rng.integers(len(self._tasks)))]
        observations = self._loop.run(self.env.reset(episode_seed, task))
        self.agents = list(self.env.agents)
        self.possible_agents = list(self.agents)
        texts, infos = self._observe(observations)
        for agent in self.agents:
            infos[agent].update(task=task, seed=episode_seed)
        return texts, infos

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[
        dict[str, str],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        if not self.agents:
            raise UserError("step() after the episode ended (or before reset); call reset()")
        chosen: dict[str, Action] = {}
        for agent in self.agents:
            if agent in self._acting:
                chosen[agent] = to_action(actions[agent]) if agent in actions else Action()
        result = self._loop.run(self.env.step(chosen))
        texts, infos = self._observe(result.observations)
        env_info = json.dumps(result.info)
        rewards = {agent: float(result.rewards.get(agent, 0.0)) for agent in self.agents}
        terminated = dict.fromkeys(self.agents, bool(result.terminated))
        truncated = dict.fromkeys(self.agents, bool(result.truncated))
        for agent in self.agents:
            infos[agent]["env_info"] = json.loads(env_info)
        if result.terminated or result.truncated:
            events = json.dumps(self._loop.run(end_episode(self.env)))
            score = self.score()
            for agent in self.agents:
                infos[agent]["score"] = {
                    "value": score.value,
                    "success": score.success,
                    **score.metrics,
                }
                infos[agent]["events"] = json.loads(events)
            self.agents = []
            self._acting = set()
        return texts, rewards, terminated, truncated, infos

    def score(self) -> Score:
        """The palaestra environment's verified score of the current episode."""
        return self.env.score()

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{agent}] {text}" for agent, text in self._texts.items())

    def close(self) -> None:
        """Close the environment (its ``aclose``/``close``) and the adapter's loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(close_env(self.env))
        finally:
            self._loop.close()

    def _observe(
        self, observations: dict[str, Observation]
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        self._acting = set(observations)
        texts: dict[str, str] = {}
        infos: dict[str, dict[str, Any]] = {}
        for agent in self.agents:
            observation = observations.get(agent)
            texts[agent] = (
                observation_text(observation, self.max_text) if observation is not None else WAITING
            )
            infos[agent] = {"acting": observation is not None, **observation_info(observation)}
        self._texts = texts
        return texts, infos

    def _check_task(self, task: str | None) -> str | None:
        if task is not None and task not in self._tasks:
            raise UserError(f"unknown task {task!r}; valid: {', '.join(self._tasks[:10])}")
        return task
