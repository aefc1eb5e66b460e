"""Scorers as a run extension (`scorers`): the `scorers:` blocks of an experiment, run
at each episode's end.

At an episode's end, after the environment's `score` event and before `episode_end`,
every scorer of the job (the experiment's `scorers:`, then the job's own; a job's block
replaces an experiment block of the same name: `palaestra.config.job_setting`) scores
the episode's log; each result is recorded as judge `model_request`/`model_response`
events (agent `judge` or `judge/<name>`) and a `score` event named after the scorer (see
`palaestra.eval.score_payloads`). Judge tokens are not the agents' usage: they count in
no episode budget and not in `episode_end.usage`. `palaestra.studies.rescore` scores
stored logs again with the same building blocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from palaestra.config import load_rubric_file
from palaestra.core import Event, Message
from palaestra.eval import (
    BoundScorer,
    EpisodeLog,
    JudgeReply,
    ScorerSpec,
    bind,
    build_scorer,
    check_unique_names,
    judge_attempts,
    run_scorers,
    score_payloads,
)
from palaestra.models import Model, ModelRequest
from palaestra.runtime._extensions import (
    EpisodeRun,
    ExtensionContext,
    RunExtension,
    register_extension,
)
from palaestra.runtime._recorder import EpisodeRecorder


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


def build_bound(specs: Sequence[ScorerSpec], judge_models: JudgeModels) -> list[BoundScorer]:
    """Built scorers (judges from `judge_models`), named, with their own targets."""
    check_unique_names(specs)

    def judge_for(ref: str, agent: str) -> ModelJudge:
        return ModelJudge(judge_models(ref, agent), agent=agent)

    return [
        bind(spec, build_scorer(spec, judge_for=judge_for, load_rubric=load_rubric_file))
        for spec in specs
    ]


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


class ScorersExtension(RunExtension):
    """Runs the job's scorers on each finished episode's log (see the module docstring)."""

    wants_log = True

    def __init__(self, scorers: Sequence[BoundScorer]):
        self.scorers = list(scorers)

    async def on_episode_end(self, episode: EpisodeRun) -> None:
        if episode.started:
            await score_episode(episode.recorder, episode.step, episode.events(), self.scorers)


@register_extension("scorers")
def scorers(context: ExtensionContext, options: dict[str, Any]) -> ScorersExtension | None:
    """The job's built scorers; judges from the run's models (not `--model`, which
    replaces the operators' models only), each judge agent its own reader of a replay."""
    specs = context.setting("scorers")
    if not specs:
        return None
    models = context.models

    def judge_models(ref: str, agent: str) -> Model:
        model: Model = models.get(ref, agent, override=False)[0]
        return model

    return ScorersExtension(build_bound(specs, judge_models))
