"""The runner: an experiment's episodes (jobs × tasks × seeds × epochs), run with bounded
concurrency into the store, resumable.

Resume: running the same run id again skips every finished episode and re-runs the
rest from scratch (an unfinished attempt's events are dropped when it restarts). An
episode is marked finished in the same transaction that makes its last events durable,
so this holds after `kill -9` at any moment. A resumed run first checks the store file
(`Store.verify_integrity`): on a damaged file the finished marks cannot be trusted.

One process writes a run at a time: the run's lease (`store._lease`) is taken before
anything of the run is read or written, so a second process given the same run id
stops with an error naming the first and changes nothing; it is released when the run
ends, and taken over from a process that was killed. A run that stops on an error
(a full disk, say) or an interrupt is marked `failed` or `interrupted` with the reason
(`RunRow.reason`), even when writing its last events is what failed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from palaestra.assurance import Contract
from palaestra.boundaries import FaultPlan
from palaestra.core import ConfigError, Operator, PalaestraError, StoreError, UserError
from palaestra.envs import EnvSpec, get_spec
from palaestra.eval import BoundScorer
from palaestra.models import Model
from palaestra.runtime._build import ModelPool, operator_factory
from palaestra.runtime._contracts import job_contracts
from palaestra.runtime._env_pool import EnvPool, EnvSource, FreshEnvs, Instances
from palaestra.runtime._episode import EpisodeLimits, EpisodeSpec, run_episode
from palaestra.runtime._experiment import (
    Experiment,
    check_agent_names,
    check_episode_count,
    load_experiment,
)
from palaestra.runtime._faults import job_faults, wrap_env
from palaestra.runtime._progress import Progress
from palaestra.runtime._recorder import EventRow
from palaestra.runtime._scoring import job_scorers
from palaestra.store import EpisodeRow, EpisodeSummary, Store

logger = logging.getLogger("palaestra.runtime")

DEFAULT_STORE = "runs/palaestra.db"


def default_store_path() -> Path:
    """`PALAESTRA_STORE` if set, else `runs/palaestra.db`."""
    return Path(os.environ.get("PALAESTRA_STORE") or DEFAULT_STORE)


def _as_recorded(db: Store, run_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """The experiment record to resume `run_id` with: the stored one when it is the same
    experiment written by an earlier version (fields added since then take their
    defaults), so that resuming is not refused for a difference nobody made."""
    existing = db.get_run(run_id)
    if existing is None or existing.experiment == record:
        return record
    stored = dict(existing.experiment)
    overrides = stored.pop("_overrides", None)
    try:
        upgraded = Experiment.model_validate(stored).model_dump(mode="json")
    except ValueError:
        return record  # not valid any more: the store reports the difference
    ours = {key: value for key, value in record.items() if key != "_overrides"}
    if upgraded == ours and overrides == record["_overrides"]:
        return existing.experiment
    return record


def new_run_id(name: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


@dataclass
class JobStats:
    """Per-job summary of a run."""

    label: str
    env: str
    episodes: int = 0
    finished: int = 0
    successes: int = 0
    errors: int = 0
    mean_reward: float = 0.0
    mean_score: float = 0.0
    mean_steps: float = 0.0
    events: int = 0
    tokens: int = 0
    wall_s: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.finished if self.finished else 0.0


@dataclass
class RunResult:
    """What `palaestra.run` returns: the run id, where it is stored, and its summary."""

    run_id: str
    store_path: Path
    episodes: list[EpisodeRow]
    jobs: dict[str, JobStats]
    wall_s: float
    skipped: int = 0
    """Episodes already finished in an earlier attempt of this run (resume)."""
    env_instances: dict[str, Instances] = field(default_factory=dict)
    """How each job's episodes got their environment, by job label: ``fresh`` (built
    per episode) or ``pooled`` (reused across episodes: the environment declares the
    reset contract of `palaestra.envs.Environment`)."""

    @property
    def success_rate(self) -> float:
        done = [e for e in self.episodes if e.status == "finished"]
        return sum(e.outcome == "success" for e in done) / len(done) if done else 0.0

    @property
    def errors(self) -> int:
        return sum(e.outcome == "error" for e in self.episodes)

    def table(self) -> str:
        from palaestra.runtime._summary import render_table

        return render_table(self)

    def __repr__(self) -> str:
        # short: the default would print every episode row
        return (
            f"RunResult(run_id={self.run_id!r}, episodes={len(self.episodes)}, "
            f"success_rate={self.success_rate:.3f}, errors={self.errors}, "
            f"store_path={str(self.store_path)!r})"
        )


@dataclass
class _Planned:
    spec: EpisodeSpec
    envs: EnvSource
    """Where the episode takes its environment instance (and gives it back)."""
    build_env: Callable[[Any], Any]
    """The episode's environment around a taken instance (its fault plan's wrapper)."""
    operator_for: Callable[[str], Operator]
    limits: EpisodeLimits
    agents_hint: list[str] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    scorers: list[BoundScorer] = field(default_factory=list)


def _env_builder(
    env_spec: EnvSpec,
    faults: FaultPlan | None = None,
    episode_id: str = "",
    run_seed: int = 0,
) -> Callable[[Any], Any]:
    if faults is None:
        return lambda env: env
    return lambda env: wrap_env(
        env, faults, episode_id=episode_id, run_seed=run_seed, env_id=env_spec.id
    )


def _env_source(env_spec: EnvSpec, params: Any, probe: Any, label: str) -> EnvSource:
    """The job's instances: a pool seeded with `probe` when the environment declares the
    reset contract (`EnvSpec.reuses`), else a fresh one per episode."""
    if env_spec.reuses(probe):
        logger.info("job %s: environment instances reused across episodes (pooled)", label)
        return EnvPool(lambda: env_spec.factory(params), first=probe)
    logger.info("job %s: a fresh environment instance per episode", label)
    return FreshEnvs(lambda: env_spec.factory(params))


def plan(experiment: Experiment, models: ModelPool) -> list[_Planned]:
    """Every episode of the experiment, in a stable order."""
    planned: list[_Planned] = []
    for index, job in enumerate(experiment.jobs):
        try:  # errors name the file and line of the field when the experiment has them
            env_spec = get_spec(job.env)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "env") from None
        try:
            params = env_spec.validate(job.params)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "params") from None
        params_dump = params.model_dump(mode="json")
        try:  # a remote environment checks the parameters it passes on here
            probe = env_spec.factory(params)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "params") from None
        check_agent_names(experiment, index, list(getattr(probe, "agents", None) or []))
        available = list(probe.tasks())
        if job.tasks == "all":
            tasks = available
        elif isinstance(job.tasks, int):
            tasks = available[: job.tasks]
        else:
            missing = [t for t in job.tasks if t not in available]
            if missing:
                shown = ", ".join(available[:10]) + (" ..." if len(available) > 10 else "")
                raise ConfigError(
                    experiment.where("jobs", index, "tasks")
                    + f"unknown task ids {missing} for {job.env!r}; valid: {shown}"
                )
            tasks = list(job.tasks)
        check_episode_count(experiment, index, len(tasks))
        assert job.label is not None
        envs = _env_source(env_spec, params, probe, job.label)
        try:
            factory = operator_factory(job, env_spec, params, models)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "operator") from None
        faults = job_faults(experiment, job)
        contracts = job_contracts(experiment, job)
        scorers = job_scorers(experiment, job, models)
        limits = EpisodeLimits(
            max_steps=job.max_steps or experiment.limits.max_steps,
            max_tokens=experiment.limits.max_tokens,
            max_wall_s=experiment.limits.max_wall_s,
        )
        for task in tasks:
            for seed in job.seed_list():
                for epoch in range(job.epochs):
                    assert job.label is not None
                    episode_id = f"{job.label}/{task}/{seed}/{epoch}"
                    planned.append(
                        _Planned(
                            spec=EpisodeSpec(
                                episode_id=episode_id,
                                job=job.label,
                                env_id=job.env,
                                task=task,
                                seed=seed,
                                epoch=epoch,
                                params=params_dump,
                            ),
                            envs=envs,
                            build_env=_env_builder(env_spec, faults, episode_id, experiment.seed),
                            operator_for=factory,
                            limits=limits,
                            contracts=contracts,
                            scorers=scorers,
                        )
                    )
    ids = [p.spec.episode_id for p in planned]
    if len(set(ids)) != len(ids):
        raise UserError("two episodes share an id: task ids, seeds or job labels repeat")
    return planned


@contextmanager
def run_collector() -> Iterator[None]:
    """The garbage-collector settings of a run, undone on leaving. Everything alive at
    its start (modules, the experiment) lives for the whole run: it is moved out of the
    collector's generations, so that collections (a full one costs ~0.1 s with the SDKs
    imported) walk only what the run allocates. Episodes allocate many short-lived
    objects: the young generation is collected less often (its cost is what is alive,
    not what was allocated)."""
    gc.freeze()  # (no collect first: that would be a full collection)
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def arun(
    experiment: Experiment | str | Path | dict[str, Any],
    *,
    run_id: str | None = None,
    store: Store | str | Path | None = None,
    model: str | None = None,
    base_url: str | None = None,
    concurrency: int | None = None,
    models: dict[str, Model] | None = None,
    progress: bool = False,
) -> RunResult:
    """Run an experiment (async). See `palaestra.run` for the arguments."""
    exp = load_experiment(experiment, given_models=models or {})
    if concurrency is not None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise UserError(
                f"concurrency must be a whole number of episodes in flight, at least 1; got "
                f"{concurrency!r}"
            )
        exp = exp.model_copy(
            update={"concurrency": exp.concurrency.model_copy(update={"episodes": concurrency})}
        )
    own_store = not isinstance(store, Store)
    db = store if isinstance(store, Store) else Store(store or default_store_path())
    pool = ModelPool(exp, override=model, base_url=base_url, models=models)
    started = time.perf_counter()
    failing = False
    """An exception is on its way out: errors of releasing and closing are logged, not
    raised over it."""
    try:
        with run_collector():
            planned = plan(exp, pool)
            record = exp.model_dump(mode="json")
            record["_overrides"] = {"model": model, "base_url": base_url}
            run_id = run_id or new_run_id(exp.name)
            db.lease_run(run_id)  # a live writer of this run: an error, nothing touched
            try:
                record = _as_recorded(db, run_id, record)
                if not db.create_run(run_id, experiment=record, seed=exp.seed, name=exp.name):
                    db.verify_integrity()  # resumed: trust its finished marks on a sound file
                finished = db.finished_episode_ids(run_id)
                todo = [p for p in planned if p.spec.episode_id not in finished]
                db.set_run_status(run_id, "running")
                bar = Progress(
                    total=len(planned), already=len(planned) - len(todo), enabled=progress
                )
                gc.freeze()  # the plan too lives for the whole run
                try:
                    with bar:
                        try:
                            await _run_all(todo, exp, db, run_id, bar)
                        finally:
                            await _close_sources(planned)
                    db.set_run_status(run_id, "finished")  # (writes every event first)
                except BaseException as exc:
                    _mark_stopped(db, run_id, exc)
                    raise
                from palaestra.runtime._summary import job_stats

                rows = db.episodes(run_id)
                return RunResult(
                    run_id=run_id,
                    store_path=Path(db.path),
                    episodes=rows,
                    jobs=job_stats(exp, rows),
                    wall_s=time.perf_counter() - started,
                    skipped=len(planned) - len(todo),
                    env_instances={p.spec.job: p.envs.instances for p in planned},
                )
            except BaseException:
                failing = True
                raise
            finally:
                _cleanup(db.release_run, run_id, quiet=failing)
    except BaseException:
        failing = True
        raise
    finally:
        await pool.aclose()
        if own_store:
            _cleanup(db.close, quiet=failing)


async def _close_sources(planned: list[_Planned]) -> None:
    """Close every job's pooled instances (each source once)."""
    seen: set[int] = set()
    for item in planned:
        if id(item.envs) not in seen:
            seen.add(id(item.envs))
            await item.envs.aclose()


def _cleanup(action: Callable[..., None], *args: Any, quiet: bool) -> None:
    """Run `action` (releasing a lease, closing the store); `quiet` (an exception is
    on its way out): a palaestra error of `action` is logged instead of hiding that
    exception (a store whose write failed fails again when it writes its rest)."""
    if not quiet:
        action(*args)
        return
    try:
        action(*args)
    except PalaestraError as exc:
        logger.debug("while stopping on an error: %s", exc)


_INTERRUPTED: dict[type[BaseException], str] = {
    KeyboardInterrupt: "interrupted (Ctrl-C)",
    # under asyncio.run, Ctrl-C cancels the run's task: the runner sees this
    asyncio.CancelledError: "interrupted (Ctrl-C, or the run's task was cancelled)",
    SystemExit: "interrupted (the process was asked to exit)",
}


def _mark_stopped(db: Store, run_id: str, exc: BaseException) -> None:
    """Mark a run that stopped on `exc` as `interrupted` (Ctrl-C, cancelled) or `failed`
    (an error), with the reason, writing what is buffered first where that still works
    (the status is written even when it does not: a full disk, say)."""
    if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | SystemExit):
        status, reason = "interrupted", _INTERRUPTED.get(type(exc), "interrupted")
    else:
        status, reason = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    try:
        db.flush()
    except PalaestraError as flush_error:
        logger.warning("run %s: its last events could not be written: %s", run_id, flush_error)
    try:
        db.set_run_status(run_id, status, reason=reason)
    except PalaestraError as status_error:  # the next open sees the dead writer's lease
        logger.warning("run %s could not be marked %s: %s", run_id, status, status_error)


async def _run_all(
    todo: list[_Planned], exp: Experiment, db: Store, run_id: str, bar: Progress
) -> None:
    queue: asyncio.Queue[_Planned] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)

    store_failure: list[StoreError] = []
    """The store's first failure: the episode loop would record it as the episode's
    error; the run stops on it instead."""

    def sink(rows: list[EventRow]) -> None:
        try:
            db.append_rows(run_id, rows)
        except StoreError as exc:
            store_failure.append(exc)
            raise
        bar.events += len(rows)

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            spec = item.spec
            db.start_episode(
                run_id,
                EpisodeRow(
                    run_id=run_id,
                    episode_id=spec.episode_id,
                    env=spec.env_id,
                    task=spec.task,
                    seed=spec.seed,
                    epoch=spec.epoch,
                    status="running",
                ),
            )
            bar.running += 1
            try:
                instance = item.envs.take()
                env = item.build_env(instance)
            except Exception as exc:
                raise UserError(f"cannot build environment {spec.env_id!r}: {exc}") from exc
            agents: list[str] | None = None
            try:
                result = await run_episode(
                    spec,
                    env,
                    item.operator_for,
                    run_seed=exp.seed,
                    limits=item.limits,
                    sink=sink,
                    contracts=item.contracts,
                    scorers=item.scorers,
                )
                agents = [str(agent) for agent in getattr(env, "agents", None) or []] or None
            finally:
                await item.envs.give_back(instance, spec.episode_id)
            if store_failure:  # the episode's events are not all in the store
                raise store_failure[0]
            db.finish_episode(
                run_id,
                EpisodeSummary(
                    episode_id=spec.episode_id,
                    outcome=result.outcome,
                    reason=result.reason,
                    score=None if result.score is None else float(result.score.value),
                    success=bool(result.score and result.score.success),
                    total_reward=result.total_reward,
                    steps=result.steps,
                    n_events=result.n_events,
                    input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens,
                    wall_s=result.wall_s,
                    hash=result.hash,
                    error=result.error,
                    agents=agents,
                ),
            )
            bar.running -= 1
            bar.tokens += result.input_tokens + result.output_tokens
            if result.outcome == "error":
                bar.failed += 1
            else:
                bar.done += 1

    async def keep_durable() -> None:
        # With slow models nothing may be appended for minutes; what is buffered (finished
        # episodes included) still reaches the file within the store's flush interval.
        while True:
            await asyncio.sleep(db.flush_interval_s)
            db.flush_if_stale()

    if exp.concurrency.episodes < 1:  # (the config refuses it; a model_copy does not)
        raise UserError(f"concurrency.episodes must be at least 1, got {exp.concurrency.episodes}")
    workers = min(exp.concurrency.episodes, len(todo))
    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    flusher = asyncio.create_task(keep_durable())
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)


def run(
    experiment: Experiment | str | Path | dict[str, Any],
    *,
    run_id: str | None = None,
    store: Store | str | Path | None = None,
    model: str | None = None,
    base_url: str | None = None,
    concurrency: int | None = None,
    models: dict[str, Model] | None = None,
    progress: bool = False,
) -> RunResult:
    """Run an experiment to completion and return its summary.

    `experiment` is an `Experiment`, a dict of the same shape, or a YAML path. `run_id`
    resumes (or names) a run; `store` is a `Store` or a path (default
    `PALAESTRA_STORE` or `runs/palaestra.db`); `model`/`base_url` replace the model of
    every LLM operator (e.g. `openai:gpt-4o-mini` and a server URL); `concurrency`
    overrides the episodes in flight; `models` supplies ready `Model` objects by the
    names the experiment uses (e.g. a `ScriptedModel` under "default"): a name given
    here needs no entry under the experiment's `models:`, and replaces the entry when
    there is one.
    """
    return asyncio.run(
        arun(
            experiment,
            run_id=run_id,
            store=store,
            model=model,
            base_url=base_url,
            concurrency=concurrency,
            models=models,
            progress=progress,
        )
    )
