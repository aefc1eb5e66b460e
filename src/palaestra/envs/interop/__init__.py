"""Adapters to and from Gymnasium and PettingZoo, with text observations and actions.

```python
from palaestra.envs.interop import from_gymnasium, to_gymnasium, to_pettingzoo

par_env = to_pettingzoo("graph.coloring", params={"n": 8})   # pettingzoo.ParallelEnv
gym_env = to_gymnasium("tooluse.store")                       # gymnasium.Env, one agent
env = from_gymnasium("FrozenLake-v1", make_kwargs={"render_mode": "ansi"})  # palaestra
```

- `to_pettingzoo(env)`: any palaestra environment as a `pettingzoo.ParallelEnv`
  (passes ``pettingzoo.test.parallel_api_test``); see `_to_pz`.
- `to_gymnasium(env)`: a single-agent one as a `gymnasium.Env` (passes
  ``gymnasium.utils.env_checker.check_env``); see `_to_gym`. `register_gymnasium`
  makes it available to ``gymnasium.make``.
- `from_gymnasium(env_or_id)`: a Gymnasium env as a one-agent palaestra environment
  with text observations; an unparsable action is an "Invalid Action" observation with
  reward 0, as in AgentGym; see `_from_gym`.

The palaestra side is async; the Gymnasium / PettingZoo side is synchronous, so each
adapter drives its environment on a private event loop in a thread it owns (`close()`
stops it). gymnasium and pettingzoo are optional: ``pip install 'palaestra[interop]'``;
without them these functions raise a `UserError` saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from palaestra.envs._protocol import Environment
from palaestra.envs.interop._common import (
    DEFAULT_MAX_ACTION_TEXT,
    DEFAULT_MAX_TEXT,
    INSTALL_HINT,
    require,
    to_action,
)

if TYPE_CHECKING:
    from palaestra.envs.interop._from_gym import GymnasiumTextEnv
    from palaestra.envs.interop._to_gym import GymnasiumEnv
    from palaestra.envs.interop._to_pz import PettingZooEnv


def to_pettingzoo(
    env: Environment | str,
    *,
    params: dict[str, Any] | None = None,
    task: str | None = None,
    max_text: int = DEFAULT_MAX_TEXT,
    max_action_text: int = DEFAULT_MAX_ACTION_TEXT,
    render_mode: str | None = None,
) -> PettingZooEnv:
    """`env` (an instance, or a registered id built with `params`) as a PettingZoo
    ``ParallelEnv`` with text spaces. `task` fixes the task of every reset (default: one
    drawn per reset from ``tasks()``)."""
    require("gymnasium")
    require("pettingzoo")
    from palaestra.envs.interop._to_pz import PettingZooEnv

    return PettingZooEnv(
        env,
        params=params,
        task=task,
        max_text=max_text,
        max_action_text=max_action_text,
        render_mode=render_mode,
    )


def to_gymnasium(
    env: Environment | str,
    *,
    params: dict[str, Any] | None = None,
    task: str | None = None,
    max_text: int = DEFAULT_MAX_TEXT,
    max_action_text: int = DEFAULT_MAX_ACTION_TEXT,
    render_mode: str | None = None,
) -> GymnasiumEnv:
    """A single-agent `env` (an instance, or a registered id built with `params`) as a
    ``gymnasium.Env`` with text spaces; a `UserError` for a multi-agent one."""
    require("gymnasium")
    from palaestra.envs.interop._to_gym import GymnasiumEnv

    return GymnasiumEnv(
        env,
        params=params,
        task=task,
        max_text=max_text,
        max_action_text=max_action_text,
        render_mode=render_mode,
    )


def from_gymnasium(
    env: Any,
    *,
    make_kwargs: dict[str, Any] | None = None,
    agent: str = "agent",
    task: str | None = None,
    instructions: str = "",
    observation_text: Callable[[Any], str] | None = None,
    success_return: float = 1.0,
    max_invalid_actions: int = 10,
) -> GymnasiumTextEnv:
    """A Gymnasium env (an instance, or an id for ``gymnasium.make`` with `make_kwargs`)
    as a one-agent palaestra environment with text observations.

    `agent`: the agent's name. `task`: its one task id (default: the gym id).
    `instructions`: text shown before every observation. `observation_text`: renders a
    non-string observation (default: JSON). `success_return`: the return that counts as
    solved (score = return / success_return, clipped to [0, 1]). `max_invalid_actions`:
    unparsable actions before the episode is truncated.
    """
    require("gymnasium")
    from palaestra.envs.interop._from_gym import GymnasiumTextEnv

    return GymnasiumTextEnv(
        env,
        make_kwargs=make_kwargs,
        agent=agent,
        task=task,
        instructions=instructions,
        observation_text=observation_text,
        success_return=success_return,
        max_invalid_actions=max_invalid_actions,
    )


def register_gymnasium(env_id: str, *, gym_id: str | None = None, **kwargs: Any) -> str:
    """Register the single-agent palaestra env `env_id` with ``gymnasium.register`` (id
    ``palaestra/<env_id>-v0`` unless `gym_id`), so ``gymnasium.make`` builds it through
    `to_gymnasium` with `kwargs` (``params``, ``task``...). Returns the Gymnasium id."""
    gym = require("gymnasium")
    gym_id = gym_id or f"palaestra/{env_id}-v0"
    gym.register(
        id=gym_id,
        entry_point="palaestra.envs.interop._to_gym:GymnasiumEnv",
        kwargs={"env": env_id, **kwargs},
    )
    return gym_id


def __getattr__(name: str) -> Any:
    modules = {
        "GymnasiumEnv": "_to_gym",
        "PettingZooEnv": "_to_pz",
        "GymnasiumTextEnv": "_from_gym",
    }
    if name not in modules:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require("gymnasium")
    if name == "PettingZooEnv":
        require("pettingzoo")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{modules[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_MAX_ACTION_TEXT",
    "DEFAULT_MAX_TEXT",
    "INSTALL_HINT",
    "GymnasiumEnv",
    "GymnasiumTextEnv",
    "PettingZooEnv",
    "from_gymnasium",
    "register_gymnasium",
    "to_action",
    "to_gymnasium",
    "to_pettingzoo",
]
