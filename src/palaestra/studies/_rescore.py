"""`rescore` (`palaestra score`): a stored run's logs scored again, into a new run.

Rescoring never changes a stored episode (logs are append-only and an episode's hash
is its log's). It writes a **new run**: each finished episode of the source run is
copied event for event up to its `episode_end`, the new scorers' events follow, and the
`episode_end` closes it again (new seq, same payload). The new run's experiment is the
source's with the new scorers appended to every job's `scorers:` (its source named in
`_overrides.rescored_from`), so the copy is the log a run of that experiment would have written,
and `palaestra replay` of it replays the judges' recorded replies too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from palaestra.config import Experiment
from palaestra.core import EpisodeEnd, Event, UserError, episode_hash, make_event
from palaestra.eval import (
    EpisodeLog,
    ScorerRow,
    ScorerSpec,
    run_scorers,
    score_payloads,
    scorer_rows_from_events,
)
from palaestra.models import Model
from palaestra.runtime import ModelPool, build_bound
from palaestra.runtime import new_run_id as make_run_id
from palaestra.store import EpisodeRow, EpisodeSummary, Store


@dataclass
class RescoreResult:
    """What `rescore` wrote."""

    run_id: str
    """The new run holding the rescored copies."""
    source_run_id: str
    episodes: int
    skipped: int
    """Episodes of the source not finished (not copied)."""
    rows: list[ScorerRow]
    """Per job and scorer (the environment's score as `env`)."""


def _rescored_log(events: list[Event], scored: list[Any]) -> list[Event]:
    if not events or not isinstance(events[-1].payload, EpisodeEnd):
        raise UserError(f"episode {events[0].episode_id if events else '?'} has no episode_end")
    end = events[-1]
    out = list(events[:-1])
    now = time.time()
    for result in scored:
        seqs: list[int] = []
        for pending in score_payloads(result):
            seq = len(out)
            parent = None if pending.parent is None else seqs[pending.parent]
            out.append(
                make_event(
                    end.episode_id,
                    seq,
                    end.step,
                    pending.agent,
                    pending.payload,
                    parent=parent,
                    time=now,
                    duration_s=pending.duration_s,
                )
            )
            seqs.append(seq)
    out.append(end.model_copy(update={"seq": len(out)}))
    return out


async def rescore(
    store: Store,
    run_ref: str,
    specs: Sequence[ScorerSpec],
    *,
    new_run_id: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    models: dict[str, Model] | None = None,
    concurrency: int = 8,
) -> RescoreResult:
    """Score a stored run's finished episodes again with `specs`, into a new run (see
    the module docstring). Judges are `model` (a spec, e.g. `openai:gpt-4o-mini`) when
    given, else the judge references resolved against the source run's `models:`;
    `models` supplies ready `Model`s by name (tests, the Python API)."""
    if not specs:
        raise UserError("give at least one scorer (--scorer)")
    source = store.resolve_run(run_ref)
    record = dict(source.experiment)
    record.pop("_overrides", None)
    try:
        experiment = Experiment.model_validate(record)
    except Exception as exc:
        raise UserError(
            f"run {source.run_id!r}: its stored experiment no longer validates ({exc}); "
            "rescore it with the palaestra release that wrote it"
        ) from None
    existing = {s.label for s in experiment.scorers} | {
        s.label for job in experiment.jobs for s in job.scorers
    }
    clash = sorted(existing & {s.label for s in specs})
    if clash:
        raise UserError(
            f"run {source.run_id!r} already has a scorer named {clash[0]!r}; give the new "
            "one another `name:`"
        )
    pool = ModelPool(experiment, models=models, base_url=base_url)

    def judge_models(ref: str, agent: str) -> Model:
        return pool.get(model or ref, agent, override=False)[0]

    bound = build_bound(specs, judge_models)
    # the new scorers come last in every job, where a run would record them
    jobs = [job.model_copy(update={"scorers": [*job.scorers, *specs]}) for job in experiment.jobs]
    new_experiment = experiment.model_copy(update={"jobs": jobs})
    new_record = new_experiment.model_dump(mode="json")
    new_record["_overrides"] = {
        **source.experiment.get("_overrides", {}),
        "rescored_from": source.run_id,
    }
    run_id = new_run_id or make_run_id(f"{source.name or 'run'}-scored")
    store.create_run(run_id, experiment=new_record, seed=source.seed, name=source.name)
    rows = store.episodes(source.run_id)
    finished = [r for r in rows if r.status == "finished"]
    done = set(store.finished_episode_ids(run_id))
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(row: EpisodeRow) -> list[Event]:
        events = store.events(source.run_id, row.episode_id)
        async with gate:
            scored = await run_scorers(bound, EpisodeLog(events[:-1]))
        return _rescored_log(events, scored)

    try:
        store.set_run_status(run_id, "running")
        todo = [r for r in finished if r.episode_id not in done]
        logs = await asyncio.gather(*(one(r) for r in todo))
        for row, log in zip(todo, logs, strict=True):
            _store_copy(store, run_id, row, log)
        store.flush()
        store.set_run_status(run_id, "finished")
    except BaseException:
        store.flush()
        store.set_run_status(run_id, "interrupted")
        raise
    finally:
        await pool.aclose()
    return RescoreResult(
        run_id=run_id,
        source_run_id=source.run_id,
        episodes=len(finished),
        skipped=len(rows) - len(finished),
        rows=scorer_rows_from_events(store.iter_events(run_id, kinds=["score"])),
    )


def _store_copy(store: Store, run_id: str, row: EpisodeRow, log: list[Event]) -> None:
    # start_episode takes the identity fields (and started_at) and resets the rest
    store.start_episode(run_id, row.model_copy(update={"run_id": run_id}))
    store.append(run_id, log)
    assert row.outcome is not None and row.reason is not None
    store.finish_episode(
        run_id,
        EpisodeSummary(
            episode_id=row.episode_id,
            outcome=row.outcome,
            reason=row.reason,
            score=row.score,
            success=row.success,
            total_reward=row.total_reward,
            steps=row.steps,
            n_events=len(log),
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            wall_s=row.wall_s,
            hash=episode_hash(log),
            error=row.error,
        ),
    )
