"""ScalingInter-RL (AgentGym-RL): the interaction horizon grows during training.

Training step k runs its rollouts with

    max_steps = rounds[min(k // every, len(rounds) − 1)]

e.g. `rounds: [10, 20, 30], every: 100`: steps 0–99 allow 10 environment steps per
episode, 100–199 allow 20, and 30 from step 200 on. Short horizons first let the policy
learn to finish; longer ones later let it explore.

How a trainer honours it: before the rollouts of step k, run
`with_max_steps(experiment, schedule.max_steps(k))` instead of the experiment itself.
That sets `limits.max_steps` and every job's `max_steps` (a job's own override would
otherwise win), so every episode of the step ends with `reason: max_steps` at the
horizon, recorded as usual. The experiment type is only imported for type checking: this
module stays a pure function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from palaestra.core import UserError

if TYPE_CHECKING:
    from palaestra.runtime import Experiment


@dataclass(frozen=True)
class HorizonSchedule:
    """`max_steps` per training step: `rounds[min(step // every, len(rounds) − 1)]`."""

    rounds: tuple[int, ...]
    """Horizons (environment steps per episode), in the order they are used."""
    every: int
    """Training steps spent at each horizon before moving to the next."""

    def __post_init__(self) -> None:
        rounds = tuple(self.rounds)
        if not rounds:
            raise UserError("horizon schedule: `rounds` must list at least one horizon")
        if any(not isinstance(r, int) or r < 1 for r in rounds):
            raise UserError(
                f"horizon schedule: every entry of `rounds` must be an integer >= 1, got "
                f"{list(rounds)}"
            )
        if not isinstance(self.every, int) or self.every < 1:
            raise UserError(
                f"horizon schedule: `every` must be an integer >= 1, got {self.every!r}"
            )
        object.__setattr__(self, "rounds", rounds)

    def max_steps(self, step: int) -> int:
        """The horizon of training step `step` (0-based)."""
        if step < 0:
            raise ValueError(f"training step must be >= 0, got {step}")
        return self.rounds[min(step // self.every, len(self.rounds) - 1)]

    def changes(self) -> list[tuple[int, int]]:
        """(first training step, horizon) for each stage, e.g. [(0, 10), (100, 20), ...]."""
        return [(i * self.every, r) for i, r in enumerate(self.rounds)]


def with_max_steps(experiment: Experiment, max_steps: int) -> Experiment:
    """A copy of `experiment` whose episodes all stop at `max_steps` environment steps
    (`limits.max_steps` and every job's `max_steps`); the original is not changed."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    limits = experiment.limits.model_copy(update={"max_steps": max_steps})
    jobs = [job.model_copy(update={"max_steps": max_steps}) for job in experiment.jobs]
    return experiment.model_copy(update={"limits": limits, "jobs": jobs})
