"""`GymnasiumTextEnv`: a Gymnasium env as a one-agent palaestra environment with text
observations, so LLM operators and the runner can play it.

Observations: the observation as text (a string as is; anything else rendered as JSON,
or by the `observation_text` callable), preceded by the optional ``instructions`` and,
for an env made with ``render_mode="ansi"``, its rendering (highlighted text in
[brackets], other colour codes removed), and
followed by what a valid action looks like. ``Observation.data`` holds the observation as
JSON data (``observation``), the step's gym ``info`` and the action space.

Actions: ``Action.data["action"]`` (algorithmic operators) or ``Action.text``, parsed into
the action space: `Discrete` → the first whole number in the text (in range); `Text` →
the text itself (it must lie in the space); any other space → the text as JSON, read by
the space's ``from_jsonable``. An action that does not parse is not sent to the gym
env: as in AgentGym, the agent observes ``Invalid Action: <why>`` with the unchanged
state and gets reward 0. After ``max_invalid_actions`` of them the episode is truncated.

``terminated`` and ``truncated`` are the gym env's (a ``TimeLimit`` truncation stays a
truncation). Score: ``value = clip(return / success_return, 0, 1)``, ``success`` when
the return reaches ``success_return`` (1 by default: FrozenLake's goal); metrics
``return``, ``steps``, ``invalid_actions``, ``terminated``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from palaestra.core import Action, Observation, UserError
from palaestra.envs._protocol import Score, Step

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HIGHLIGHT_RE = re.compile(r"\x1b\[(?!0?m)[0-9;]*m([^\x1b]*)\x1b\[0?m")
_INT_RE = re.compile(r"-?\d+")


class GymnasiumTextEnv:
    """A Gymnasium env (an instance, or an id for ``gymnasium.make``) as a palaestra env."""

    def __init__(
        self,
        env: gym.Env[Any, Any] | str,
        *,
        make_kwargs: dict[str, Any] | None = None,
        agent: str = "agent",
        task: str | None = None,
        instructions: str = "",
        observation_text: Callable[[Any], str] | None = None,
        success_return: float = 1.0,
        max_invalid_actions: int = 10,
    ):
        if isinstance(env, str):
            try:
                env = gym.make(env, **(make_kwargs or {}))
            except gym.error.Error as exc:
                raise UserError(f"gymnasium.make({env!r}) failed: {exc}") from None
        elif make_kwargs:
            raise UserError("make_kwargs apply to a Gymnasium id, not to an env instance")
        if success_return <= 0:
            raise UserError(f"success_return must be > 0, got {success_return}")
        if max_invalid_actions < 1:
            raise UserError(f"max_invalid_actions must be >= 1, got {max_invalid_actions}")
        self.gym_env = env
        self.agent = agent
        self.instructions = instructions
        self.render_text = observation_text
        self.success_return = success_return
        self.max_invalid_actions = max_invalid_actions
        spec = getattr(env, "spec", None)
        self.task = task or (spec.id if spec is not None else type(env.unwrapped).__name__)
        self._help = _action_help(env.action_space)
        self._last = Observation()
        self._return = 0.0
        self._steps = 0
        self._invalid = 0
        self._terminated = False
        self._over = True

    @property
    def agents(self) -> list[str]:
        return [self.agent]

    def tasks(self) -> list[str]:
        return [self.task]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        if task is not None and task != self.task:
            raise UserError(f"unknown task {task!r}; this environment has one task: {self.task!r}")
        obs, info = self.gym_env.reset(seed=seed)
        self._return, self._steps, self._invalid = 0.0, 0, 0
        self._terminated, self._over = False, False
        self._last = self._observe(obs, info)
        return {self.agent: self._last}

    async def step(self, actions: dict[str, Action]) -> Step:
        if self._over:
            raise UserError("step() after the episode ended (or before reset); call reset()")
        action = actions.get(self.agent, Action())
        parsed, error = self._parse(action)
        if error is not None:
            self._invalid += 1
            truncated = self._invalid >= self.max_invalid_actions
            self._over = truncated
            note = f"Invalid Action: {error}. The state is unchanged.\n\n"
            observation = Observation(
                text=note + self._last.text,
                data={**self._last.data, "invalid_action": error},
            )
            info = {"invalid_action": error, "invalid_actions": self._invalid}
            return Step(
                observations={self.agent: observation},
                rewards={self.agent: 0.0},
                truncated=truncated,
                info=info,
            )
        obs, reward, terminated, truncated, info = self.gym_env.step(parsed)
        self._steps += 1
        self._return += float(reward)
        self._terminated = bool(terminated)
        self._over = bool(terminated or truncated)
        self._last = self._observe(obs, info)
        return Step(
            observations={self.agent: self._last},
            rewards={self.agent: float(reward)},
            terminated=bool(terminated),
            truncated=bool(truncated),
            info={"gym_info": jsonable(info)},
        )

    def score(self) -> Score:
        value = min(max(self._return / self.success_return, 0.0), 1.0)
        success = self._return >= self.success_return
        return Score(
            value=value,
            success=success,
            metrics={
                "return": self._return,
                "steps": float(self._steps),
                "invalid_actions": float(self._invalid),
                "terminated": float(self._terminated),
            },
            explanation=(
                f"return {self._return:g} after {self._steps} steps "
                f"({'reaches' if success else 'below'} the success return "
                f"{self.success_return:g}); {self._invalid} invalid actions"
            ),
        )

    def close(self) -> None:
        """Close the Gymnasium env."""
        self.gym_env.close()

    # -- text in, text out -------------------------------------------------------------------

    def _observe(self, obs: Any, info: dict[str, Any]) -> Observation:
        if isinstance(obs, str):
            body = obs
        elif self.render_text is not None:
            body = self.render_text(obs)
        else:
            body = json.dumps(jsonable(obs))
        parts = [self.instructions] if self.instructions else []
        if self.gym_env.render_mode == "ansi":
            rendered = self.gym_env.render()
            if isinstance(rendered, str) and rendered.strip():
                parts.append(plain_text(rendered).strip("\n"))
        parts += [f"Observation: {body}", self._help]
        data = {
            "observation": jsonable(obs),
            "info": jsonable(info),
            "action_space": str(self.gym_env.action_space),
        }
        return Observation(text="\n\n".join(parts), data=data)

    def _parse(self, action: Action) -> tuple[Any, str | None]:
        space = self.gym_env.action_space
        from_data = "action" in action.data
        value = action.data["action"] if from_data else (action.text or "")
        shown = repr(value)[:80]
        if isinstance(space, spaces.Discrete):
            low, high = int(space.start), int(space.start + space.n - 1)
            want = f"expected a whole number from {low} to {high}, got {shown}"
            if from_data:
                number = value if isinstance(value, int) and not isinstance(value, bool) else None
            else:
                match = _INT_RE.search(str(value))
                number = int(match.group()) if match else None
            if number is None or not low <= number <= high:
                return None, want
            return number, None
        if isinstance(space, spaces.Text):
            if not isinstance(value, str) or not space.contains(value):
                return None, f"expected text in {space}, got {shown}"
            return value, None
        try:
            loaded = value if from_data else json.loads(str(value))
            parsed = space.from_jsonable([loaded])[0]
        except Exception:
            return None, f"expected JSON for an action in {space}, got {shown}"
        if not space.contains(parsed):
            return None, f"expected an action in {space}, got {shown}"
        return parsed, None


def plain_text(rendered: str) -> str:
    """An ANSI rendering as plain text: highlighted text (FrozenLake's position, say) in
    [brackets], every other escape code removed."""
    return _ANSI_RE.sub("", _HIGHLIGHT_RE.sub(r"[\1]", rendered))


def _action_help(space: spaces.Space[Any]) -> str:
    if isinstance(space, spaces.Discrete):
        low = int(space.start)
        return f"Action: reply with one whole number from {low} to {low + int(space.n) - 1}."
    if isinstance(space, spaces.Text):
        return f"Action: reply with text of {space.min_length} to {space.max_length} characters."
    return f"Action: reply with JSON for an action in {space}."


def jsonable(value: Any) -> Any:
    """`value` as JSON data: numpy scalars and arrays as numbers and lists, non-finite
    floats as None, unknown objects as their ``str``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
