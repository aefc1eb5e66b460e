"""Arithmetic drills (`arith.drill`): one short question, a verified answer with partial
credit; the task on which `palaestra train` shows a small model learning on the CPU
(docs/training.md). See `_env` for the credit table and the multi-try protocol."""

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.arith._env import (
    AGENT,
    ArithEnv,
    ArithParams,
    ArithSolver,
    credit,
    question,
    solver_baseline,
)

register(
    EnvSpec(
        id="arith.drill",
        factory=ArithEnv,
        params=ArithParams,
        description=(
            "Arithmetic questions (add, sub, mul; operands drawn from the seed) answered "
            "with only the number; credit 1 exact, 0.5 right but wordy, 0.2 a wrong bare "
            "number; optional retries with feedback."
        ),
        baseline=solver_baseline,
    )
)

__all__ = [
    "AGENT",
    "ArithEnv",
    "ArithParams",
    "ArithSolver",
    "credit",
    "question",
    "solver_baseline",
]
