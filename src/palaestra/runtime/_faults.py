"""Fault plans in the runtime: the plan a job runs under, its environment wrapped, and
plan files (`palaestra run --faults FILE`, what `palaestra stress` writes).

The runtime applies a plan where it builds things (boundaries are wrappers, not flags):
`operator_factory` wraps each LLM operator's model in `FaultyModel` and its tools in
`FaultyTool`; the runner (and replay) wrap each episode's environment in
`FaultyEnvironment`. Memories are built in Python, not from YAML: wrap one in
`FaultyMemory` yourself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from palaestra.boundaries import FaultPlan, FaultyModel, FaultyTool
from palaestra.core import ConfigError
from palaestra.runtime._experiment import Experiment, Job
from palaestra.runtime._faulty_env import FaultyEnvironment


def job_faults(experiment: Experiment, job: Job) -> FaultPlan | None:
    """The plan of `job`: its own `faults:`, else the experiment's; None without rules."""
    plan = job.faults if job.faults is not None else experiment.faults
    return plan if plan is not None and plan.rules else None


def with_faults(experiment: Experiment, plan: FaultPlan | None) -> Experiment:
    """The experiment with `plan` as its only fault plan (jobs' own plans dropped)."""
    jobs = [job.model_copy(update={"faults": None}) for job in experiment.jobs]
    return experiment.model_copy(update={"faults": plan, "jobs": jobs})


def wrap_env(
    env: Any, plan: FaultPlan | None, *, episode_id: str, run_seed: int, env_id: str
) -> Any:
    """`env` in a `FaultyEnvironment` when `plan` has `env` or `tool` rules (tool rules
    also reach the environment's own tools), else `env` itself."""
    if plan is None or not plan.has("env", "tool"):
        return env
    return FaultyEnvironment(env, plan, episode_id=episode_id, run_seed=run_seed, env_id=env_id)


def load_fault_plan(path: str | Path) -> FaultPlan:
    """A plan from a YAML file: a mapping with a `faults:` key (as `palaestra stress`
    writes, possibly with other keys), the plan itself (`seed`, `rules`), or a list of
    rules. Errors name the file and line."""
    from palaestra.runtime._yaml import format_validation_error, load_yaml_file

    path = Path(path)
    data, lines = load_yaml_file(path, what="fault plan file", expected="a fault plan")
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and "faults" in data:
        data, prefix = data["faults"], ("faults",)
    if not isinstance(data, dict | list):
        raise ConfigError(
            f"{path}:1: expected a fault plan (a mapping with `rules`, or a list of rules), "
            f"got {type(data).__name__}"
        )
    try:
        return FaultPlan.model_validate(data)
    except ValidationError as exc:
        shifted = {
            loc[len(prefix) :]: line for loc, line in lines.items() if loc[: len(prefix)] == prefix
        }
        if isinstance(data, list):  # the shorthand: errors are reported under `rules`
            shifted = {("rules", *loc): line for loc, line in shifted.items()}
        raise ConfigError(format_validation_error(exc, source=str(path), lines=shifted)) from None


def apply_faults(operator: Any, plan: FaultPlan | None, *, model_key: str, replaying: bool) -> None:
    """Wrap a built `LLMOperator`'s model in `FaultyModel` (its key under `models:` is an
    alias rules may target) and its own tools in `FaultyTool`, as `plan` asks.
    `replaying`: the model answers from a recorded log (see `FaultyModel`)."""
    if plan is None:
        return
    if plan.has("model"):
        operator.model = FaultyModel(
            operator.model, plan, aliases=(model_key,), replaying=replaying
        )
    if plan.has("tool"):
        operator.tools = {name: FaultyTool(t, plan) for name, t in operator.tools.items()}
