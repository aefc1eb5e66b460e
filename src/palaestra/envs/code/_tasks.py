"""Execution-verified coding tasks: generation (`build_task`, `TaskSet`) and verification
(`verify`).

A task is "implement ``solve``" for a generated statement: two visible examples and
`TESTS` hidden tests, whose expected outputs the host computes by running the family's
reference solution. Task ``i`` of seed ``s`` is fully determined by ``(s, i)``.

Verification runs the submitted code in a fresh sandbox, never in the host nor in the
agent's workspace. The sandbox receives the code as ``solution.py`` and a harness as
``main.py`` (both in the run's private, read-only directory) that calls ``solve``
on each hidden input and prints each result as JSON on a line tagged with a random
marker; the expected outputs never enter the sandbox, so code that reads the harness, or
prints lines of its own, still cannot pass a test without computing its answer. Results
compare as canonical JSON text, so ``True`` does not pass for ``1``, nor ``3.0`` for
``3``. What the code prints while it runs is discarded.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from palaestra.envs.code import _numbers as numbers
from palaestra.envs.code import _sequences as sequences
from palaestra.envs.code._blueprint import EXAMPLES, TESTS, Blueprint, Family
from palaestra.sandbox import CommandLimits, ExecResult, Sandbox

FAMILIES: tuple[Family, ...] = (
    numbers.prime_sum,
    sequences.distinct_sorted,
    numbers.gcd_lcm,
    sequences.palindrome,
    numbers.fibonacci_mod,
    sequences.inversions,
    numbers.digits,
    sequences.reverse_words,
    numbers.divisors,
    sequences.max_window,
    numbers.power_mod,
    sequences.run_length,
    numbers.count_divisible,
    sequences.increasing_subsequence,
    numbers.bit_count_range,
    sequences.caesar,
    numbers.lattice_paths,
    sequences.kth_distinct,
    numbers.collatz,
    sequences.brackets,
    numbers.base_convert,
    sequences.matrix_product,
    sequences.pair_sums,
    sequences.matrix_power_trace,
    sequences.anagram_groups,
)
"""Every family, in the order tasks cycle through them."""


class Example(BaseModel):
    """One call of ``solve`` and its correct result (JSON values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    args: list[Any]
    """Positional arguments."""
    expected: Any
    """What the reference returned."""

    def call(self) -> str:
        """The call as Python text, e.g. ``solve(10, [1, 2])``."""
        return f"solve({', '.join(repr(a) for a in self.args)})"


class CodeTask(BaseModel):
    """One generated coding task with its hidden tests and reference solution."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    """``<family>-<index>``, unique within a task seed."""
    family: str
    statement: str
    signature: str
    """First line of the function to write, e.g. ``def solve(n: int) -> int:``."""
    examples: list[Example]
    """Shown to the agent."""
    tests: list[Example]
    """Hidden: the submission is scored on these."""
    reference: str
    """Source of a correct solution (the oracle baseline submits it; agents never see it)."""

    def prompt(self) -> str:
        """The task as the agent reads it."""
        shown = "\n".join(f"    {e.call()} == {e.expected!r}" for e in self.examples)
        return (
            f"# Task {self.id}\n\n{self.statement}\n\nWrite a Python function:\n\n"
            f"    {self.signature}\n\nExamples:\n\n{shown}"
        )


def build_task(seed: int, index: int) -> CodeTask:
    """Task `index` of `seed`: its family is ``FAMILIES[index % len]``, its draws come
    from a generator seeded with both."""
    family = FAMILIES[index % len(FAMILIES)]
    rng = random.Random(f"code.python:{seed}:{index}")
    blueprint = family(rng)
    if len(blueprint.inputs) != EXAMPLES + TESTS:
        raise AssertionError(
            f"family {family.__name__} drew {len(blueprint.inputs)} inputs, "
            f"expected {EXAMPLES + TESTS}"
        )
    solved = _solve_all(blueprint)
    return CodeTask(
        id=f"{family.__name__}-{index:03d}",
        family=family.__name__,
        statement=blueprint.statement,
        signature=blueprint.signature,
        examples=solved[:EXAMPLES],
        tests=solved[EXAMPLES:],
        reference=blueprint.reference,
    )


def task_id(index: int) -> str:
    """The id of task `index` (the same for every seed), without building it."""
    return f"{FAMILIES[index % len(FAMILIES)].__name__}-{index:03d}"


class TaskSet:
    """The first `count` tasks of `seed`; ids are known at once, tasks built on demand."""

    def __init__(self, seed: int, count: int) -> None:
        self.seed = seed
        self.ids = [task_id(i) for i in range(count)]
        self._index = {tid: i for i, tid in enumerate(self.ids)}
        self._built: dict[int, CodeTask] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, tid: str) -> int | None:
        """Position of task `tid`, or None if it is not in the set."""
        return self._index.get(tid)

    def get(self, tid: str) -> CodeTask | None:
        """Task `tid`, built on first use; None if it is not in the set."""
        index = self._index.get(tid)
        if index is None:
            return None
        if index not in self._built:
            self._built[index] = build_task(self.seed, index)
        return self._built[index]


def _solve_all(blueprint: Blueprint) -> list[Example]:
    """Run the reference in this process (it is our own code) on every input."""
    namespace: dict[str, Any] = {}
    exec(compile(blueprint.reference, "<reference>", "exec"), namespace)
    solve = namespace["solve"]
    out = []
    for args in blueprint.inputs:
        plain = json.loads(json.dumps(list(args)))
        expected = json.loads(json.dumps(solve(*plain)))
        out.append(Example(args=plain, expected=expected))
    return out


# -- verification ---------------------------------------------------------------------------

_HARNESS = """\
import json as _json
import os as _os
import sys as _sys

_MARK = {marker!r}
_HERE = _sys.path[0]  # the run's private directory, which holds solution.py
_CASES = _json.loads({cases!r})


class _Discard:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


def _emit(line):
    text = _MARK + " " + line.replace("\\n", " ") + "\\n"
    _os.write(1, text.encode("utf-8", "replace"))


def _main():
    namespace = {{"__name__": "solution"}}
    _sys.stdout = _Discard()
    try:
        with open(_os.path.join(_HERE, "solution.py"), encoding="utf-8") as file:
            source = file.read()
        exec(compile(source, "solution.py", "exec"), namespace)
    except BaseException as exc:
        _emit("load %s: %s" % (type(exc).__name__, exc))
        return
    solve = namespace.get("solve")
    if not callable(solve):
        _emit("load NameError: the code does not define a function named solve")
        return
    for index, args in enumerate(_CASES):
        _sys.stdout = _Discard()
        try:
            line = "ok %d %s" % (index, _json.dumps(solve(*args), sort_keys=True))
        except BaseException as exc:
            line = "error %d %s: %s" % (index, type(exc).__name__, exc)
        _emit(line)


_main()
"""


@dataclass
class SubmissionResult:
    """How a submission did on the hidden tests."""

    passed: int
    total: int
    failures: list[str] = field(default_factory=list)
    """One line per failed test: the call, what was expected, what came back."""
    problem: str = ""
    """Why nothing or not everything ran: the code did not load, or a limit stopped it."""
    loaded: bool = True
    """The code compiled, ran and defined ``solve``."""

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def render(self) -> str:
        """The verdict as the agent reads it after submitting."""
        lines = [f"Submitted: {self.passed}/{self.total} hidden tests passed."]
        if self.problem:
            lines.append(self.problem)
        if self.failures and self.loaded:
            lines.append("First failure: " + self.failures[0])
        return "\n".join(lines)


async def verify(
    sandbox: Sandbox, task: CodeTask, code: str, limits: CommandLimits
) -> SubmissionResult:
    """Run `code` against the hidden tests of `task` in `sandbox`."""
    marker = f"@@palaestra-{secrets.token_hex(8)}"
    cases = json.dumps([t.args for t in task.tests])
    harness = _HARNESS.format(marker=marker, cases=cases)
    run_limits = limits.model_copy(update={"max_output_bytes": 1_000_000})
    result = await sandbox.run_python(harness, limits=run_limits, files={"solution.py": code})
    return judge(task, result, marker)


def judge(task: CodeTask, result: ExecResult, marker: str) -> SubmissionResult:
    """Compare the harness's tagged lines in `result` with the expected outputs."""
    answers: dict[int, tuple[str, str]] = {}
    problem, loaded = "", True
    for line in result.stdout.splitlines():
        if not line.startswith(marker + " "):
            continue
        kind, _, rest = line[len(marker) + 1 :].partition(" ")
        if kind == "load":
            problem, loaded = f"The code did not load: {rest}", False
        elif kind in ("ok", "error"):
            number, _, payload = rest.partition(" ")
            if number.isdigit():
                answers[int(number)] = (kind, payload)
    failures = []
    for index, test in enumerate(task.tests):
        kind, payload = answers.get(index, ("missing", ""))
        expected = json.dumps(test.expected, sort_keys=True)
        if kind == "ok" and payload == expected:
            continue
        got = {
            "ok": f"returned {payload}",
            "error": f"raised {payload}",
            "missing": "did not finish",
        }[kind]
        failures.append(f"{test.call()} {got}, expected {expected}")
    if not problem and (result.killed_by or len(answers) < len(task.tests)):
        problem = _stopped(result)
    return SubmissionResult(
        len(task.tests) - len(failures), len(task.tests), failures, problem, loaded
    )


def _stopped(result: ExecResult) -> str:
    if result.killed_by:
        return f"The run was {result.limit_message()}."
    tail = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
    return f"The run ended early: {tail[0]}"
