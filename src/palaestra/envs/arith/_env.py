"""`arith.drill`: short arithmetic questions with a verified, partly-credited answer.

A small environment made for training small models on the CPU: the answer is a few
tokens, the reward is dense enough for GRPO to find a signal in a group of 8 rollouts of
a 135M model, and every credit is computed by the environment from the reply text
(never self-reported). The question is drawn from (task, seed): the task names the
operation (`add`, `sub`, `mul`), the episode seed draws the operands, so held-out seeds
are held-out questions.

Credit of one reply (`credit`):

==========================================================  ======
the reply is exactly the answer (a bare number, `.` allowed)   1.0
the answer is the last number in a longer reply                0.5
the reply is a bare number, but wrong                          0.2
anything else                                                  0.0
==========================================================  ======

With `tries` > 1 a wrong reply gets feedback ("Incorrect ...") and the agent answers
again: a multi-turn episode whose horizon a training schedule can grow. The episode's
score is the best credit, discounted by `retry_discount` per earlier try. Success means
the answer is right: the reply's last number is the answer (credit >= 0.5, the usual
GSM8K-style answer extraction); the score adds the format (only the number: 1.0). Each
step's reward is that step's credit (discounted the same way).
"""

from __future__ import annotations

import random
import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from palaestra.core import Action, Observation, UserError
from palaestra.envs._protocol import Score, Step

AGENT = "solver"
"""The one agent of `arith.drill`."""

Op = Literal["add", "sub", "mul"]
SYMBOLS: dict[str, str] = {"add": "+", "sub": "-", "mul": "*"}

_NUMBER = re.compile(r"-?\d+")
_BARE = re.compile(r"^\s*(-?\d+)\s*\.?\s*$")


class ArithParams(BaseModel):
    """Parameters of `arith.drill`."""

    model_config = ConfigDict(extra="forbid")

    ops: list[Op] = Field(default_factory=lambda: list[Op](["add"]), min_length=1)
    """Operations, one task each (task ids are their names)."""
    min_value: int = 0
    """Smallest operand."""
    max_value: int = Field(9, description="Largest operand.")
    operands: int = Field(2, ge=2, le=4, description="Numbers in the expression.")
    tries: int = Field(1, ge=1, le=10, description="Answers allowed per episode.")
    retry_discount: float = Field(0.5, ge=0, le=1, description="Credit factor per earlier try.")
    prompt: str = Field(
        "What is {expression}? Reply with only the number.",
        description="Question template; `{expression}` is replaced.",
    )

    @model_validator(mode="after")
    def _range(self) -> ArithParams:
        if self.max_value < self.min_value:
            raise ValueError(
                f"max_value ({self.max_value}) must be >= min_value ({self.min_value})"
            )
        if len(set(self.ops)) != len(self.ops):
            raise ValueError(f"ops: each operation at most once, got {self.ops}")
        return self


def question(params: ArithParams, task: str, seed: int) -> tuple[str, int]:
    """The expression (e.g. `3 + 4`) and its value for (task, seed)."""
    rng = random.Random(f"arith.drill/{task}/{seed}")
    numbers = [rng.randint(params.min_value, params.max_value) for _ in range(params.operands)]
    if task == "sub":  # keep answers >= 0 when operands are: larger numbers first
        numbers.sort(reverse=True)
    expression = f" {SYMBOLS[task]} ".join(str(n) for n in numbers)
    value = numbers[0]
    for n in numbers[1:]:
        value = value + n if task == "add" else value - n if task == "sub" else value * n
    return expression, value


def credit(reply: str, answer: int) -> float:
    """The credit of one reply (table in the module doc)."""
    bare = _BARE.match(reply or "")
    if bare:
        return 1.0 if int(bare.group(1)) == answer else 0.2
    numbers = _NUMBER.findall(reply or "")
    if numbers and int(numbers[-1]) == answer:
        return 0.5
    return 0.0


class ArithEnv:
    """One agent answers one arithmetic question (in up to `tries` replies)."""

    reusable: ClassVar[bool] = True
    """Keeps the reset contract (`Environment`): the runner reuses one instance per
    worker across episodes (`palaestra.testing.check_reuse` checks it)."""

    def __init__(self, params: ArithParams | None = None) -> None:
        self.params = params or ArithParams()
        self._expression = ""
        self._answer = 0
        self._credits: list[float] = []
        self._done = False

    @property
    def agents(self) -> list[str]:
        return [AGENT]

    def tasks(self) -> list[str]:
        return list(self.params.ops)

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        task = task or self.params.ops[0]
        if task not in self.params.ops:
            raise UserError(f"unknown arith.drill task {task!r}; valid: {', '.join(self.tasks())}")
        self._expression, self._answer = question(self.params, task, seed)
        self._credits = []
        self._done = False
        text = self.params.prompt.format(expression=self._expression)
        return {AGENT: self._observation(text)}

    def _observation(self, text: str) -> Observation:
        tries_left = self.params.tries - len(self._credits)
        return Observation(
            text=text, data={"expression": self._expression, "tries_left": tries_left}
        )

    async def step(self, actions: dict[str, Action]) -> Step:
        if self._done:
            raise RuntimeError("arith.drill: step() after the episode ended; call reset()")
        action = actions.get(AGENT)
        reply = (action.text if action is not None else None) or ""
        value = credit(reply, self._answer)
        discount = self.params.retry_discount ** len(self._credits)
        self._credits.append(value)
        self._done = value == 1.0 or len(self._credits) >= self.params.tries
        observations = {}
        if not self._done:
            verdict = "Right, but" if value == 0.5 else "Incorrect."
            observations[AGENT] = self._observation(
                f"{verdict} What is {self._expression}? Reply with only the number."
            )
        return Step(
            observations=observations,
            rewards={AGENT: value * discount},
            terminated=self._done,
            info={"credit": value, "try": len(self._credits)},
        )

    def score(self) -> Score:
        factor = self.params.retry_discount
        discounted = [c * factor**i for i, c in enumerate(self._credits)]
        best = max(discounted, default=0.0)
        solved = any(c >= 0.5 for c in self._credits)
        return Score(
            value=best,
            success=solved,
            metrics={"tries": float(len(self._credits)), "first_credit": self._first()},
            explanation=(
                f"{self._expression} = {self._answer}; credits per try {self._credits} "
                f"(1 exact, 0.5 right but wordy, 0.2 a wrong bare number)"
            ),
        )

    def _first(self) -> float:
        return self._credits[0] if self._credits else 0.0


class ArithSolver:
    """Exact baseline: computes the expression in the observation's data."""

    def __init__(self, *, agent: str | None = None) -> None:
        self.agent = agent

    async def act(self, observation: Observation, ctx: object) -> Action:
        expression = str(observation.data.get("expression", ""))
        parts = expression.split(" ")
        value = int(parts[0])
        for symbol, number in zip(parts[1::2], parts[2::2], strict=True):
            n = int(number)
            value = value + n if symbol == "+" else value - n if symbol == "-" else value * n
        return Action(text=str(value))


def solver_baseline(params: ArithParams, agent: str) -> ArithSolver:
    """The registry's baseline factory."""
    return ArithSolver(agent=agent)
