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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from palaestra.config import Experiment, load_experiment
from palaestra.core import PalaestraError, StoreError, UserError
from palaestra.models import Model
from palaestra.runtime._build import ModelPool
from palaestra.runtime._plan import PlannedEpisode, plan
from palaestra.runtime._progress import Progress
from palaestra.runtime._recorder import EventRow
from palaestra.runtime._result import RunResult, job_stats
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


@contextmanager
def run_collector() -> Iterator[None]:
    """The garbage-collector settings of a run, undone on leaving. Everything alive at
    its start (modules, the experiment) lives for the whole run: it is moved out of the
    collector's generations, so that collections (a full one is costly with the SDKs
    imported: docs/benchmarks.md) walk only what the run allocates. Episodes allocate
    many short-lived objects: the young generation is collected less often (its cost is
    what is alive, not what was allocated)."""
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
                rows = db.episodes(run_id)
                return RunResult(
                    run_id=run_id,
                    store_path=Path(db.path),
                    episodes=rows,
                    jobs=job_stats(exp, rows),
                    wall_s=time.perf_counter() - started,
                    skipped=len(planned) - len(todo),
                    env_instances={p.spec.job: p.job.source.instances for p in planned},
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


async def _close_sources(planned: list[PlannedEpisode]) -> None:
    """Close every job's pooled instances (each source once)."""
    seen: set[int] = set()
    for item in planned:
        source = item.job.source
        if id(source) not in seen:
            seen.add(id(source))
            await source.aclose()


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
    todo: list[PlannedEpisode], exp: Experiment, db: Store, run_id: str, bar: Progress
) -> None:
    queue: asyncio.Queue[PlannedEpisode] = asyncio.Queue()
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
                instance = item.job.source.take()
                env = item.job.build_env(spec, instance)
            except Exception as exc:
                raise UserError(f"cannot build environment {spec.env_id!r}: {exc}") from exc
            agents: list[str] | None = None
            try:
                result = await item.job.run(spec, env, sink=sink)
                agents = [str(agent) for agent in getattr(env, "agents", None) or []] or None
            finally:
                await item.job.source.give_back(instance, spec.episode_id)
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
