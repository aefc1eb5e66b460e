"""The wire format of the environment server: request bodies and the JSON forms of
`Observation`, `Action`, `Step` and `Score`, shared by the server and the client.

AgentGym's verbs and field names, extended for palaestra's multi-agent contract:

- ``GET /`` (health) → ``{status: "ok", env, params, instances, max_instances,
  idle_timeout_s}``
- ``POST /create`` ``{params?}`` (the body is optional) → ``{id, env_idx, env, agents}``
- ``POST /reset`` ``{env_idx, seed=0, task?, data_idx?}`` → ``{observations, agents,
  events}``
- ``POST /step`` ``{env_idx, actions: {agent: Action}}``, or ``{env_idx, action: str}``
  for a single-agent env → ``{observations, rewards, terminated, truncated, info,
  events}`` and AgentGym's ``{state, reward, done}``, plus ``score`` when done
- ``POST /end`` ``{env_idx}`` → ``{events}``: the episode is over (ended by the client's
  runtime: a step limit, a budget, an error); the environment's ``end_episode()`` runs
  (e.g. a workspace's manifest is taken and the workspace destroyed)
- ``GET /observation?env_idx=`` → ``{observations, state}``
- ``POST /close`` ``{env_idx}`` → ``{closed: env_idx}``
- ``GET /tasks`` (the server's params), ``?env_idx=`` (an instance's) or
  ``?params=JSON`` → ``{tasks}``
- ``GET /score?env_idx=`` → ``{value, success, metrics, explanation}``
- ``GET /agents?env_idx=`` → ``{agents}``

Observations and actions travel as their pydantic JSON (``model_dump(mode="json")``);
``state`` is AgentGym's observation string (the text of the one observing agent, or one
``[agent] text`` block per agent), ``reward`` the sum of the step's rewards, ``done``
``terminated or truncated``. ``data_idx`` (AgentGym's task index) picks ``tasks()[i]``.
``events`` are what the environment's ``drain_events()`` handed over (``[{kind,
payload}]``, kinds in `ENV_EVENT_KINDS`), for the client's log.
Errors are JSON ``{"error": message}`` with a 4xx/5xx status.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from palaestra.core import PAYLOADS, Action, Observation, Payload
from palaestra.envs._protocol import Score, Step

TOKEN_ENV = "PALAESTRA_ENV_TOKEN"
"""The environment variable holding an environment server's token: `palaestra serve-env`
reads it (unless --token), `HttpEnvironment` and ``remote.http`` send it."""
MAX_INT = 2**63 - 1
"""Largest instance id, seed or task index a request may give."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateRequest(_Body):
    """Body of ``POST /create`` (optional)."""

    params: dict[str, Any] | None = Field(
        default=None, description="parameters of the new instance; default: the server's"
    )


class ResetRequest(_Body):
    """Body of ``POST /reset``."""

    env_idx: int = Field(ge=0, le=MAX_INT, description="instance id returned by POST /create")
    seed: int = Field(default=0, ge=-MAX_INT - 1, le=MAX_INT, description="episode seed")
    task: str | None = Field(default=None, description="task id (one of GET /tasks)")
    data_idx: int | None = Field(
        default=None, ge=0, le=MAX_INT, description="AgentGym's task index: tasks()[data_idx]"
    )


class StepRequest(_Body):
    """Body of ``POST /step``: ``actions`` (one per acting agent) or AgentGym's ``action``."""

    env_idx: int = Field(ge=0, le=MAX_INT, description="instance id returned by POST /create")
    actions: dict[str, Action] | None = Field(
        default=None, description="one Action (JSON) per agent that acts at this step"
    )
    action: str | None = Field(
        default=None, description="AgentGym's single action string (single-agent envs)"
    )


class CloseRequest(_Body):
    """Body of ``POST /close`` (and of ``POST /end``)."""

    env_idx: int = Field(ge=0, le=MAX_INT, description="instance id returned by POST /create")


ENV_EVENT_KINDS = frozenset({"governance", "fault", "workspace"})
"""Event kinds a served environment may hand over for the client's log: what it reports
about itself (an ``isolation: none`` warning, an injected fault, a workspace's manifest),
never the kinds the client's runtime writes (``episode_end``, ``score``...)."""


def dump_events(events: list[Payload]) -> list[dict[str, Any]]:
    return [{"kind": event.kind, "payload": event.model_dump(mode="json")} for event in events]


def load_events(data: Any) -> list[Payload]:
    """The events of a response (none when the server sends none: an older server)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"expected events as a JSON list, got {type(data).__name__}")
    events: list[Payload] = []
    for item in data:
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind not in ENV_EVENT_KINDS:
            raise ValueError(
                f"an environment may report events of kinds {sorted(ENV_EVENT_KINDS)}, got {kind!r}"
            )
        events.append(PAYLOADS[kind].model_validate(item.get("payload")))
    return events


def dump_observations(observations: dict[str, Observation]) -> dict[str, Any]:
    return {agent: obs.model_dump(mode="json") for agent, obs in observations.items()}


def load_observations(data: Any) -> dict[str, Observation]:
    if not isinstance(data, dict):
        raise ValueError(f"expected observations as a JSON object, got {type(data).__name__}")
    return {str(agent): Observation.model_validate(obs) for agent, obs in data.items()}


def dump_actions(actions: dict[str, Action]) -> dict[str, Any]:
    # defaults left out: the server validates them back to equal Actions
    return {
        agent: action.model_dump(mode="json", exclude_defaults=True)
        for agent, action in actions.items()
    }


def state_text(observations: dict[str, Observation]) -> str:
    """AgentGym's ``state``: the one observer's text, else ``[agent] text`` blocks."""
    if len(observations) == 1:
        return next(iter(observations.values())).text
    return "\n\n".join(f"[{agent}] {obs.text}" for agent, obs in observations.items())


def dump_step(step: Step) -> dict[str, Any]:
    rewards = {agent: float(value) for agent, value in step.rewards.items()}
    return {
        "observations": dump_observations(step.observations),
        "rewards": rewards,
        "terminated": bool(step.terminated),
        "truncated": bool(step.truncated),
        "info": step.info,
        "state": state_text(step.observations),
        "reward": float(sum(rewards.values())),
        "done": bool(step.terminated or step.truncated),
    }


def load_step(data: dict[str, Any]) -> Step:
    return Step(
        observations=load_observations(data.get("observations", {})),
        rewards={str(k): float(v) for k, v in dict(data.get("rewards") or {}).items()},
        terminated=bool(data.get("terminated", False)),
        truncated=bool(data.get("truncated", False)),
        info=dict(data.get("info") or {}),
    )


def dump_score(score: Score) -> dict[str, Any]:
    return {
        "value": float(score.value),
        "success": bool(score.success),
        "metrics": {k: float(v) for k, v in score.metrics.items()},
        "explanation": score.explanation,
    }


def load_score(data: dict[str, Any]) -> Score:
    return Score(
        value=float(data["value"]),
        success=bool(data["success"]),
        metrics={str(k): float(v) for k, v in dict(data.get("metrics") or {}).items()},
        explanation=str(data.get("explanation", "")),
    )
