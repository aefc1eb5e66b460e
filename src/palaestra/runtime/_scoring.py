"""Scorers at run time and after it: the `scorers:` blocks of an experiment, run at each
episode's end, and `rescore` (`palaestra score`), which scores stored logs again.

At an episode's end, after the environment's `score` event and before `episode_end`,
every scorer of the job (the experiment's `scorers:`, then the job's own; a job's block
replaces an experiment block of the same name) scores the episode's log; each result is
recorded as judge `model_request`/`model_response` events (agent `judge` or
`judge/<name>`) and a `score` event named after the scorer (see
`palaestra.eval.score_payloads`). Judge tokens are not the agents' usage: they count in
no episode budget and not in `episode_end.usage`.

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
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaestra.core import (
    ConfigError,
    EpisodeEnd,
    Event,
    Message,
    UserError,
    episode_hash,
    make_event,
)
from palaestra.eval import (
    BoundScorer,
    EpisodeLog,
    JudgeReply,
    Rubric,
    ScorerRow,
    ScorerSpec,
    build_scorer,
    run_scorers,
    score_payloads,
    scorer_rows_from_events,
)
from palaestra.eval._scorer import judge_attempts
from palaestra.eval._spec import bind, check_unique_names
from palaestra.models import Model, ModelRequest
from palaestra.runtime._build import ModelPool
from palaestra.runtime._experiment import Experiment, Job
from palaestra.runtime._recorder import EpisodeRecorder
from palaestra.store import EpisodeRow, EpisodeSummary, Store


class ModelJudge:
    """A `palaestra.eval.Judge` over any `Model` (temperature 0 unless given)."""

    def __init__(self, model: Model, *, agent: str = "judge", temperature: float | None = 0.0):
        self.model = model
        self.agent = agent
        self.temperature = temperature

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def params(self) -> dict[str, Any]:
        return {} if self.temperature is None else {"temperature": self.temperature}

    async def __call__(self, messages: list[Message]) -> JudgeReply:
        response = await self.model.generate(
            ModelRequest(messages=list(messages), temperature=self.temperature, agent=self.agent)
        )
        return JudgeReply(
            text=response.message.content or "",
            usage=response.usage,
            model=response.model,
            finish_reason=response.finish_reason,
            latency_s=response.latency_s,
            failed_attempts=judge_attempts(response.failed_attempts),
        )


def model_judge(model: Model, *, agent: str = "judge") -> ModelJudge:
    """A judge from a model (public helper for the Python API)."""
    return ModelJudge(model, agent=agent)


def load_rubric_file(path: Path) -> Rubric:
    """A rubric YAML file, validated with errors that name the file line."""
    from pydantic import ValidationError

    from palaestra.runtime._yaml import format_validation_error, load_yaml_file

    path = Path(path)
    data, lines = load_yaml_file(path, what="rubric file", expected="a rubric mapping")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=str(path), lines=lines)) from None


def env_target(env: Any) -> Any:
    """The environment's target for the current task (`task_target()`, optional in the
    `Environment` protocol) as JSON data; None when it has none or it fails."""
    method = getattr(env, "task_target", None)
    if not callable(method):
        return None
    try:
        return json.loads(json.dumps(method()))
    except Exception:
        return None


JudgeModels = Callable[[str, str], Model]
"""`(model reference, judge agent) -> Model`."""


def merged_specs(experiment: Experiment, job: Job) -> list[ScorerSpec]:
    """The experiment's scorer blocks, then the job's (a job block replaces an
    experiment block of the same name)."""
    own = {spec.label for spec in job.scorers}
    return [s for s in experiment.scorers if s.label not in own] + list(job.scorers)


def build_bound(specs: Sequence[ScorerSpec], judge_models: JudgeModels) -> list[BoundScorer]:
    """Built scorers (judges from `judge_models`), named, with their own targets."""
    check_unique_names(specs)

    def judge_for(ref: str, agent: str) -> ModelJudge:
        return ModelJudge(judge_models(ref, agent), agent=agent)

    return [
        bind(spec, build_scorer(spec, judge_for=judge_for, load_rubric=load_rubric_file))
        for spec in specs
    ]


def job_scorers(experiment: Experiment, job: Job, pool: ModelPool) -> list[BoundScorer]:
    """The job's built scorers; judges from the run's models (not `--model`, which
    replaces the operators' models only), each judge agent its own reader of a replay."""

    def judge_models(ref: str, agent: str) -> Model:
        return pool.get(ref, agent, override=False)[0]

    return build_bound(merged_specs(experiment, job), judge_models)


async def score_episode(
    rec: EpisodeRecorder, step: int, events: list[Event], scorers: Sequence[BoundScorer]
) -> None:
    """Run the scorers on a finished log and record their events (the runtime's hook)."""
    for scored in await run_scorers(scorers, EpisodeLog(events)):
        seqs: list[int] = []
        for pending in score_payloads(scored):
            parent = None if pending.parent is None else seqs[pending.parent]
            seqs.append(
                rec.emit(
                    step,
                    pending.agent,
                    pending.payload,
                    parent=parent,
                    duration_s=pending.duration_s,
                )
            )


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
    from palaestra.runtime._runner import new_run_id as make_run_id

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
