"""`JobPlan`: everything one job's episodes run with, built once per job, and the plan
of a run (every episode, in a stable order).

A job plan holds the environment's spec and validated parameters, the job's
`RunExtension`s (chosen in one place, `job_extensions`), the operator factory (the
extensions' model, tool and operator wrappers applied), the episode limits, and builds
each episode's environment (the extensions' `wrap_env` applied) and runs it. The runner
and every study (replay, stress, Shapley) run episodes through it, so a replay is built
the way the run was, by the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from palaestra.config import Experiment, Job, check_agent_names, check_episode_count
from palaestra.core import ConfigError, Operator, UserError
from palaestra.envs import EnvSpec, get_spec
from palaestra.runtime._build import ModelPool, operator_factory
from palaestra.runtime._env_pool import EnvPool, EnvSource, FreshEnvs
from palaestra.runtime._episode import (
    EpisodeLimits,
    EpisodeOutcome,
    EpisodeSpec,
    Sink,
    run_episode,
)
from palaestra.runtime._extensions import (
    ExtensionContext,
    RunExtension,
    job_extensions,
    with_hook,
)

logger = logging.getLogger("palaestra.runtime")


@dataclass
class JobPlan:
    """One job of an experiment, ready to run episodes (see the module docstring)."""

    experiment: Experiment
    job: Job
    index: int
    """The job's position in `experiment.jobs` (errors name its fields)."""
    env_spec: EnvSpec
    params: Any
    """The environment's validated parameters."""
    limits: EpisodeLimits
    extensions: list[RunExtension]
    operator_for: Callable[[str], Operator]
    """`agent -> fresh Operator` for one episode."""
    params_dump: dict[str, Any]
    """`params` as JSON data (recorded in each `episode_start`)."""
    envs: EnvSource | None = None
    """Where the runner's episodes take their environment instance: a pool when the
    environment declares the reset contract, else a fresh one each (set by `tasks`)."""

    @property
    def source(self) -> EnvSource:
        """`envs`, or a fresh instance per episode when `tasks` was not asked (replay)."""
        if self.envs is None:
            self.envs = FreshEnvs(lambda: self.env_spec.factory(self.params))
        return self.envs

    @classmethod
    def build(
        cls, experiment: Experiment, index: int, models: ModelPool, *, replaying: bool = False
    ) -> JobPlan:
        """The plan of `experiment.jobs[index]` with the run's `models`; `replaying`: the
        models answer from a recorded log. Errors name the file and line of the field
        when the experiment has them."""
        job = experiment.jobs[index]
        try:
            env_spec = get_spec(job.env)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "env") from None
        try:
            params = env_spec.validate(job.params)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "params") from None
        extensions = job_extensions(ExtensionContext(experiment, job, models, replaying))
        try:
            factory = operator_factory(job, env_spec, params, models, extensions)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "operator") from None
        limits = EpisodeLimits(
            max_steps=job.max_steps or experiment.limits.max_steps,
            max_tokens=experiment.limits.max_tokens,
            max_wall_s=experiment.limits.max_wall_s,
        )
        dump = params.model_dump(mode="json")
        return cls(experiment, job, index, env_spec, params, limits, extensions, factory, dump)

    def tasks(self) -> list[str]:
        """The job's task ids (an environment is built once to list them and its
        agents, which are checked against the job's `agents:`)."""
        experiment, job, index = self.experiment, self.job, self.index
        try:  # a remote environment checks the parameters it passes on here
            probe = self.env_spec.factory(self.params)
        except UserError as exc:
            raise experiment.located(exc, "jobs", index, "params") from None
        check_agent_names(experiment, index, list(getattr(probe, "agents", None) or []))
        assert job.label is not None
        self.envs = _env_source(self.env_spec, self.params, probe, job.label)
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
        return tasks

    def episode(self, task: str, seed: int, epoch: int) -> EpisodeSpec:
        """The spec of one episode of this job."""
        assert self.job.label is not None
        return EpisodeSpec(
            episode_id=f"{self.job.label}/{task}/{seed}/{epoch}",
            job=self.job.label,
            env_id=self.job.env,
            task=task,
            seed=seed,
            epoch=epoch,
            params=self.params_dump,
        )

    def episodes(self, tasks: list[str]) -> list[EpisodeSpec]:
        """Every episode of the job over `tasks`: task, then seed, then epoch."""
        return [
            self.episode(task, seed, epoch)
            for task in tasks
            for seed in self.job.seed_list()
            for epoch in range(self.job.epochs)
        ]

    def build_env(self, spec: EpisodeSpec, instance: Any = None) -> Any:
        """The environment of episode `spec`: `instance` (taken from `source`) or a fresh
        one, wrapped by the extensions (per episode; a pool holds the unwrapped one)."""
        env = instance if instance is not None else self.env_spec.factory(self.params)
        for ext in with_hook(self.extensions, "wrap_env"):
            env = ext.wrap_env(env, episode=spec)
        return env

    async def run(
        self,
        spec: EpisodeSpec,
        env: Any,
        *,
        sink: Sink | None = None,
        limits: EpisodeLimits | None = None,
    ) -> EpisodeOutcome:
        """Run episode `spec` on `env` (from `build_env`) with the job's operators,
        limits (or `limits`) and extensions."""
        return await run_episode(
            spec,
            env,
            self.operator_for,
            run_seed=self.experiment.seed,
            limits=limits or self.limits,
            sink=sink,
            extensions=self.extensions,
        )


def _env_source(env_spec: EnvSpec, params: Any, probe: Any, label: str) -> EnvSource:
    """The job's instances: a pool seeded with `probe` when the environment declares the
    reset contract (`EnvSpec.reuses`), else a fresh one per episode."""
    if env_spec.reuses(probe):
        logger.info("job %s: environment instances reused across episodes (pooled)", label)
        return EnvPool(lambda: env_spec.factory(params), first=probe)
    logger.info("job %s: a fresh environment instance per episode", label)
    return FreshEnvs(lambda: env_spec.factory(params))


@dataclass(frozen=True)
class PlannedEpisode:
    """One episode of a run: its job's plan and its spec."""

    job: JobPlan
    spec: EpisodeSpec


def plan(experiment: Experiment, models: ModelPool) -> list[PlannedEpisode]:
    """Every episode of the experiment, in a stable order."""
    planned: list[PlannedEpisode] = []
    for index in range(len(experiment.jobs)):
        job_plan = JobPlan.build(experiment, index, models)
        tasks = job_plan.tasks()
        planned.extend(PlannedEpisode(job_plan, spec) for spec in job_plan.episodes(tasks))
    ids = [p.spec.episode_id for p in planned]
    if len(set(ids)) != len(ids):
        raise UserError("two episodes share an id: task ids, seeds or job labels repeat")
    return planned
