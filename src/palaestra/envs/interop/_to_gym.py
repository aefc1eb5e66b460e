"""`GymnasiumEnv`: a single-agent palaestra environment as a `gymnasium.Env`.

Observations are the agent's observation text (an `AnyText` space: any string up to
``max_text`` characters; longer texts are cut); actions are strings (an `AnyText` of up
to ``max_action_text`` characters, sampled from printable ASCII) read by `to_action`: a
JSON object of `Action` fields is that action (tool calls), other text is
``Action(text=...)``; an `Action` or a dict of its fields is accepted too. ``info``
carries the structured observation (``data``, ``tools``), the environment's step info
(``env_info``), and, on the last step, the verified ``score`` and the ``events`` the
environment has for the log at the episode's end (its ``end_episode()`` is called
then; e.g. ``code.python``'s workspace manifest, ``{"kind": "workspace", ...}``).

``reset(seed=..., options={"task": id})``: the palaestra seed is ``seed`` (or drawn from
``np_random`` when None), the task is ``options["task"]``, else the adapter's fixed
``task``, else one drawn from ``tasks()`` with ``np_random`` — so the same seed gives the
same episode, as Gymnasium requires.
"""

from __future__ import annotations

import json
from typing import Any, SupportsFloat

import gymnasium as gym

from palaestra.core import Observation, UserError
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

_SEED_BOUND = 2**31 - 1


class GymnasiumEnv(gym.Env[str, Any]):
    """A single-agent palaestra `Environment` (or registered id) as a Gymnasium env."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # fps: gymnasium warns without one

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
        self._loop = LoopThread("palaestra-gymnasium-loop")
        self._closed = False
        self._tasks = list(self.env.tasks())
        if task is not None and task not in self._tasks:
            raise UserError(f"unknown task {task!r}; valid: {', '.join(self._tasks[:10])}")
        self.task = task
        # agents are known after a reset: probe one to refuse multi-agent envs now
        self._loop.run(self.env.reset(0, task or self._tasks[0]))
        agents = list(self.env.agents)
        if len(agents) != 1:
            self.close()
            raise UserError(
                f"to_gymnasium needs a single-agent environment; this one has agents "
                f"{agents}: use to_pettingzoo for multi-agent environments"
            )
        self.agent = agents[0]
        self.observation_space = AnyText(max_text)
        self.action_space = AnyText(max_action_text)
        self._text = ""
        self._acting = False
        self._done = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"task"})
        if unknown:
            raise UserError(f"reset options: unknown keys {unknown}; valid: task")
        episode_seed = seed if seed is not None else int(self.np_random.integers(_SEED_BOUND))
        task = options.get("task", self.task)
        if task is None:
            task = self._tasks[int(self.np_random.integers(len(self._tasks)))]
        elif task not in self._tasks:
            raise UserError(f"unknown task {task!r}; valid: {', '.join(self._tasks[:10])}")
        observations = self._loop.run(self.env.reset(episode_seed, task))
        observation = observations.get(self.agent)
        self._acting, self._done = observation is not None, False
        self._text = observation_text(observation, self.max_text)
        info = {"task": task, "seed": episode_seed, **self._info(observation)}
        return self._text, info

    def step(self, action: Any) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._done:
            raise UserError("step() after the episode ended (or before reset); call reset()")
        actions = {self.agent: to_action(action)} if self._acting else {}
        result = self._loop.run(self.env.step(actions))
        observation = result.observations.get(self.agent)
        self._acting = observation is not None
        self._text = observation_text(observation, self.max_text)
        info = self._info(observation)
        info["env_info"] = json.loads(json.dumps(result.info))
        terminated, truncated = bool(result.terminated), bool(result.truncated)
        if terminated or truncated:
            self._done = True
            info["events"] = self._loop.run(end_episode(self.env))
            score = self.score()
            info["score"] = {"value": score.value, "success": score.success, **score.metrics}
        reward = float(result.rewards.get(self.agent, 0.0))
        return self._text, reward, terminated, truncated, info

    def score(self) -> Score:
        """The palaestra environment's verified score of the current episode."""
        return self.env.score()

    def render(self) -> str | None:
        return self._text if self.render_mode == "ansi" else None

    def close(self) -> None:
        """Close the environment (its ``aclose``/``close``) and the adapter's loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(close_env(self.env))
        finally:
            self._loop.close()

    def _info(self, observation: Observation | None) -> dict[str, Any]:
        return {"acting": observation is not None, **observation_info(observation)}
