"""Fault injection as a run extension (`faults`): the plan a job runs under (its own
`faults:` block, else the experiment's; `palaestra.config.job_setting`) wraps each LLM
operator's model in `FaultyModel` and its own tools in `FaultyTool`, and each episode's
environment in `FaultyEnvironment` (tool rules also reach the environment's own tools).
Boundaries are wrappers, not flags. Memories are built in Python, not from YAML: wrap
one in `FaultyMemory` yourself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from palaestra.boundaries import FaultPlan, FaultyModel, FaultyTool
from palaestra.config import Experiment
from palaestra.runtime._extensions import ExtensionContext, RunExtension, register_extension
from palaestra.runtime._faulty_env import FaultyEnvironment

if TYPE_CHECKING:
    from palaestra.models import Model
    from palaestra.runtime._episode import EpisodeSpec
    from palaestra.tools import Tool


def with_faults(experiment: Experiment, plan: FaultPlan | None) -> Experiment:
    """The experiment with `plan` as its only fault plan (jobs' own plans dropped)."""
    jobs = [job.model_copy(update={"faults": None}) for job in experiment.jobs]
    return experiment.model_copy(update={"faults": plan, "jobs": jobs})


class FaultsExtension(RunExtension):
    """Injects the faults of `plan` (see the module docstring). `replaying`: the models
    answer from a recorded log (see `FaultyModel`)."""

    def __init__(self, plan: FaultPlan, *, run_seed: int, replaying: bool):
        self.plan = plan
        self.run_seed = run_seed
        self.replaying = replaying
        self._env = plan.has("env", "tool")

    def wrap_model(self, model: Model, *, agent: str, key: str) -> Model:
        if not self.plan.has("model"):
            return model
        return FaultyModel(model, self.plan, aliases=(key,), replaying=self.replaying)

    def wrap_tool(self, tool: Tool, *, agent: str) -> Tool:
        return FaultyTool(tool, self.plan) if self.plan.has("tool") else tool

    def wrap_env(self, env: Any, *, episode: EpisodeSpec) -> Any:
        if not self._env:
            return env
        return FaultyEnvironment(
            env,
            self.plan,
            episode_id=episode.episode_id,
            run_seed=self.run_seed,
            env_id=episode.env_id,
        )


@register_extension("faults")
def faults(context: ExtensionContext, options: dict[str, Any]) -> FaultsExtension | None:
    """The job's fault plan as an extension; None without rules."""
    plan = context.setting("faults")
    if plan is None or not plan.rules:
        return None
    return FaultsExtension(plan, run_seed=context.experiment.seed, replaying=context.replaying)
