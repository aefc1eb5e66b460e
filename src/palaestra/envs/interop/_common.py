"""What the adapters share: the optional-dependency check, the private event loop that
drives an async environment from synchronous Gymnasium / PettingZoo calls, the
episode's end (the environment's events, e.g. a workspace's manifest), and the text
forms of observations and actions.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import ValidationError

from palaestra.core import Action, Observation, UserError, release
from palaestra.envs._protocol import Environment, SupportsDrainEvents, SupportsEndEpisode
from palaestra.envs._registry import get_spec

T = TypeVar("T")

INSTALL_HINT = "pip install 'palaestra[interop]'"

DEFAULT_MAX_TEXT = 1_000_000
"""Longest observation text (characters) of the text spaces; longer texts are cut."""
DEFAULT_MAX_ACTION_TEXT = 256
"""Longest action text of the text action spaces (what ``sample()`` draws up to)."""


def require(module: str) -> Any:
    """Import `module` (gymnasium, pettingzoo) or raise a `UserError` saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"the Gymnasium / PettingZoo adapters need the {module!r} package, which is not "
            f"installed: {INSTALL_HINT}"
        ) from None


def resolve_env(env: Environment | str, params: dict[str, Any] | None) -> Environment:
    """An environment instance from an instance or a registered id (built with `params`)."""
    if isinstance(env, str):
        spec = get_spec(env)
        return spec.factory(spec.validate(params or {}))
    if params is not None:
        raise UserError("params apply to a registered environment id, not to an instance")
    return env


class LoopThread:
    """A private event loop in a daemon thread: `run(coro)` blocks until it is done.

    A thread (rather than ``asyncio.run`` per call) keeps one loop for the adapter's whole
    life, so clients bound to it (an `HttpEnvironment`'s connections) stay usable, and
    the synchronous API works even when called from code that runs an event loop itself.
    """

    def __init__(self, name: str = "palaestra-adapter-loop"):
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def close_env(env: Environment) -> None:
    """Call the environment's ``aclose()`` or ``close()`` if it has one."""
    await release(env)


async def end_episode(env: Environment) -> list[dict[str, Any]]:
    """The episode's end as palaestra's runtime makes it: the environment's optional
    ``end_episode()``, then what its optional ``drain_events()`` hands over (e.g. a
    workspace's manifest), as JSON data (``{"kind": ..., **payload}``)."""
    if isinstance(env, SupportsEndEpisode):
        result = env.end_episode()
        if inspect.isawaitable(result):
            await result
    events = env.drain_events() if isinstance(env, SupportsDrainEvents) else []
    return [{"kind": event.kind, **event.model_dump(mode="json")} for event in events]


def observation_text(observation: Observation | None, max_text: int) -> str:
    """What a text policy reads: the observation's text (or its messages), cut to fit."""
    if observation is None:
        return ""
    text = observation.text
    if not text and observation.messages:
        text = "\n\n".join(f"{m.role}: {m.content or ''}" for m in observation.messages)
    return text[:max_text]


def observation_info(observation: Observation | None) -> dict[str, Any]:
    """The structured parts of an observation, as fresh JSON data (for ``info``)."""
    if observation is None:
        return {"data": {}, "tools": []}
    dumped = observation.model_dump(mode="json", include={"data", "tools"})
    return {"data": dumped["data"], "tools": dumped["tools"]}


def to_action(value: Any) -> Action:
    """An adapter's action as a palaestra `Action`.

    An `Action` or a dict of its fields is taken as is. A string that is a JSON object
    of `Action` fields (``{"tool_calls": [{"id": "1", "name": "find", "arguments":
    {}}]}``) is that action, so a text policy can call tools; any other string is
    ``Action(text=...)``.
    """
    if isinstance(value, Action):
        return value
    if isinstance(value, dict):
        try:
            return Action.model_validate(value)
        except ValidationError as exc:
            raise UserError(f"invalid action {value!r}: {exc.errors()[0]['msg']}") from None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            try:
                loaded = json.loads(stripped)
                if isinstance(loaded, dict) and loaded and set(loaded) <= set(Action.model_fields):
                    return Action.model_validate(loaded)
            except (json.JSONDecodeError, ValidationError):
                pass
        return Action(text=value)
    raise UserError(
        f"expected an action as a str, a dict of Action fields or an Action, got "
        f"{type(value).__name__}"
    )
