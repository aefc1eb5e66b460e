"""Deterministic replay: re-run a recorded episode with every model answered from its
own log (`ReplayModel`) and compare the new log with the recorded one, event by event.

Same config + same seed + replayed model responses ⇒ the same event log (wall-clock
fields aside). The first event that differs is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from palaestra.core import EpisodeEnd, Event, StoreError, UserError, hashable_form
from palaestra.envs import get_spec
from palaestra.models import Model, ModelRequest, ModelResponse, ReplayModel
from palaestra.runtime._build import ModelPool, operator_factory, scripted_name
from palaestra.runtime._contracts import job_contracts
from palaestra.runtime._env_pool import close_env
from palaestra.runtime._episode import EpisodeLimits, EpisodeSpec, run_episode
from palaestra.runtime._experiment import Experiment, ModelConfig
from palaestra.runtime._faults import job_faults, wrap_env
from palaestra.runtime._recorder import row_event
from palaestra.runtime._scoring import job_scorers
from palaestra.store import Store


class _AsRecorded:
    """The replay model under the name the agent's model had when recorded, so that the
    replayed `model_request` events equal the recorded ones."""

    def __init__(self, inner: ReplayModel, name: str):
        self.inner = inner
        self.name = name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        return await self.inner.generate(request)


@dataclass
class ReplayReport:
    """Outcome of replaying one episode."""

    episode_id: str
    equal: bool
    recorded_hash: str | None
    replayed_hash: str
    first_difference: int | None = None
    """Seq of the first event that differs (or where one log ends)."""
    expected: dict[str, Any] | None = None
    got: dict[str, Any] | None = None
    error: str | None = None
    """The replayed episode's error, e.g. the `ReplayDivergence` message."""

    def describe(self) -> str:
        if self.equal:
            return f"{self.episode_id}: identical ({self.replayed_hash[:12]})"
        lines = [f"{self.episode_id}: DIFFERS at seq {self.first_difference}"]
        if self.error:
            lines.append(f"  replay error: {self.error}")
        lines.append(f"  recorded: {_short(self.expected)}")
        lines.append(f"  replayed: {_short(self.got)}")
        return "\n".join(lines)


def _short(value: Any, limit: int = 400) -> str:
    import json

    text = "(end of log)" if value is None else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def _wall_budget(last: Event, max_wall_s: float | None) -> float | None:
    """The wall-time budget a replay runs under: none (a replay must not be cut short by
    a slow machine), except for an episode that the budget ended: then the recorded one,
    so that its `episode_end` reads the same. The replay is cut at the same call by the
    replay model (its calls take no time), not by the timer."""
    payload = last.payload
    if isinstance(payload, EpisodeEnd) and payload.reason == "budget":
        if (payload.error or "").startswith("wall-time budget"):
            return max_wall_s
    return None


def first_difference(
    recorded: list[Event], replayed: list[Event]
) -> tuple[int | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(seq, expected, got) of the first differing event, or (None, None, None)."""
    for index in range(max(len(recorded), len(replayed))):
        a = hashable_form(recorded[index]) if index < len(recorded) else None
        b = hashable_form(replayed[index]) if index < len(replayed) else None
        if a != b:
            return index, a, b
    return None, None, None


async def replay_episode(store: Store, run_id: str, episode_id: str) -> ReplayReport:
    """Re-run one finished episode of `run_id` with replayed models and compare."""
    run = store.get_run(run_id)
    if run is None:
        raise UserError(f"no run {run_id!r} in {store.path}")
    recorded = store.events(run_id, episode_id)
    if not recorded:
        raise UserError(f"run {run_id!r} has no episode {episode_id!r} (see `palaestra show`)")
    start = recorded[0]
    if start.kind != "episode_start":
        raise StoreError(f"episode {episode_id!r} does not begin with episode_start")
    config = dict(run.experiment)
    config.pop("_overrides", None)
    experiment = Experiment.model_validate(config)
    job_label = episode_id.split("/", 1)[0]
    job = next((j for j in experiment.jobs if j.label == job_label), None)
    if job is None:
        raise StoreError(f"episode {episode_id!r} names job {job_label!r}, not in the run")
    env_spec = get_spec(job.env)
    params = env_spec.validate(job.params)
    replay = ReplayModel.from_events(recorded)
    names: dict[str, str] = {}
    for event in recorded:
        if event.kind == "model_request":
            names.setdefault(event.agent, event.payload.model)  # type: ignore[attr-defined]

    def as_recorded(agent: str | None, key: str, config: ModelConfig) -> Model:
        name = names.get(agent or "")
        if name is None and config.replies is not None:
            # an agent that never called its model (e.g. a role the plan did not use):
            # the name a scripted model from `replies:` always has
            name = scripted_name(config, key)
        return _AsRecorded(replay, name or replay.name)

    pool = ModelPool(experiment, fixed=as_recorded)
    payload: Any = start.payload
    spec = EpisodeSpec(
        episode_id=episode_id,
        job=job_label,
        env_id=payload.env,
        task=payload.task,
        seed=payload.seed,
        epoch=payload.epoch,
        params=params.model_dump(mode="json"),
    )
    limits = EpisodeLimits(
        max_steps=job.max_steps or experiment.limits.max_steps,
        max_tokens=experiment.limits.max_tokens,
        max_wall_s=_wall_budget(recorded[-1], experiment.limits.max_wall_s),
    )
    replayed: list[Event] = []
    env = wrap_env(
        env_spec.factory(params),
        job_faults(experiment, job),
        episode_id=episode_id,
        run_seed=experiment.seed,
        env_id=env_spec.id,
    )
    try:  # the pool holds connections (MCP servers): released whatever happens
        outcome = await run_episode(
            spec,
            env,
            operator_factory(job, env_spec, params, pool),
            run_seed=experiment.seed,
            limits=limits,
            sink=lambda rows: replayed.extend(row_event(row) for row in rows),
            contracts=job_contracts(experiment, job),
            scorers=job_scorers(experiment, job, pool),
        )
    finally:
        await close_env(env, episode_id)
        await pool.aclose()
    seq, expected, got = first_difference(recorded, replayed)
    episodes = {e.episode_id: e for e in store.episodes(run_id)}
    return ReplayReport(
        episode_id=episode_id,
        equal=seq is None,
        recorded_hash=episodes[episode_id].hash if episode_id in episodes else None,
        replayed_hash=outcome.hash,
        first_difference=seq,
        expected=expected,
        got=got,
        error=outcome.error,
    )
