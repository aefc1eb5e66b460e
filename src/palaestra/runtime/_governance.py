"""Applying a `governance:` policy where the runtime builds operators: an LLM operator's
own tools become `GovernedTool`s, and every agent's operator is wrapped in `Governed`,
so the calls to the environment's tools in its actions are decided before `env.step`.

One `Governor` per job: its rate and spend counters are kept per (episode, agent).
"""

from __future__ import annotations

from palaestra.boundaries import Governed, GovernedTool, Governor
from palaestra.core import Operator
from palaestra.operators import LLMOperator
from palaestra.runtime._experiment import Experiment, Job


def job_governor(experiment: Experiment, job: Job) -> Governor | None:
    """The governor of `job`'s policy (its own, else the experiment's), or None when
    there is none or it is switched off (`enabled: false`)."""
    policy = job.governance if job.governance is not None else experiment.governance
    if policy is None or not policy.enabled:
        return None
    return Governor(policy)


def govern_tools(operator: LLMOperator, governor: Governor | None) -> None:
    """Wrap the operator's own tools (in place, before it is forked) in `GovernedTool`."""
    if governor is None:
        return
    operator.tools = {
        name: tool if isinstance(tool, GovernedTool) else GovernedTool(tool, governor)
        for name, tool in operator.tools.items()
    }


def govern(operator: Operator, governor: Governor | None) -> Operator:
    """`operator` wrapped in `Governed` (its actions decided before the environment)."""
    return operator if governor is None else Governed(operator, governor)
