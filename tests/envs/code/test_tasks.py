"""Task generation and verification: deterministic tasks, references that pass their own
hidden tests in the sandbox, and a judge that only credits computed answers."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.envs.code import (
    EXAMPLES,
    FAMILIES,
    TESTS,
    CodeTask,
    CommandLimits,
    ExecResult,
    Sandbox,
    TaskSet,
    build_task,
    judge,
    task_id,
    verify,
)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), index=st.integers(0, 500))
def test_tasks_are_deterministic_and_well_formed(seed: int, index: int) -> None:
    task = build_task(seed, index)
    assert task == build_task(seed, index)
    assert task.id == task_id(index) == f"{FAMILIES[index % len(FAMILIES)].__name__}-{index:03d}"
    assert len(task.examples) == EXAMPLES and len(task.tests) == TESTS
    assert task.signature.startswith("def solve(") and task.signature.endswith(":")
    # every argument and answer is plain JSON, and the reference's answers are the ones kept
    namespace: dict[str, object] = {}
    exec(task.reference, namespace)
    solve = namespace["solve"]
    for example in task.examples + task.tests:
        assert json.loads(json.dumps(example.args)) == example.args
        assert json.dumps(solve(*example.args)) == json.dumps(example.expected)  # type: ignore[operator]
    prompt = task.prompt()
    assert task.statement in prompt and task.signature in prompt
    assert (
        task.reference not in prompt and str(task.tests[-1].args) not in prompt.split("Examples")[0]
    )


def test_seeds_and_indices_give_different_problems() -> None:
    first = [build_task(0, i) for i in range(100)]
    assert len({t.id for t in first}) == 100
    assert {t.family for t in first} == {f.__name__ for f in FAMILIES}
    # parameters vary within a family: more distinct statements than families
    assert len({t.statement for t in first}) > 2 * len(FAMILIES)
    other = [build_task(1, i) for i in range(100)]
    assert sum(a.tests != b.tests for a, b in zip(first, other, strict=True)) > 90


def test_task_set_builds_lazily_and_knows_its_ids() -> None:
    tasks = TaskSet(seed=3, count=40)
    assert len(tasks) == 40 and tasks.ids[0] == "prime_sum-000"
    assert tasks.index("inversions-005") == 5 and tasks.index("inversions-006") is None
    assert tasks.get("nope-000") is None
    task = tasks.get(tasks.ids[7])
    assert isinstance(task, CodeTask) and task == build_task(3, 7)


async def test_every_reference_passes_its_hidden_tests_in_the_sandbox() -> None:
    sandbox = Sandbox()
    tasks = [build_task(0, i) for i in range(2 * len(FAMILIES) + 50)]  # 100 tasks
    gate = asyncio.Semaphore(4)

    async def check(task: CodeTask) -> tuple[str, str]:
        async with gate:
            verdict = await verify(sandbox, task, task.reference, CommandLimits())
        return task.id, verdict.render()

    outcomes = await asyncio.gather(*(check(task) for task in tasks))
    assert len(outcomes) == 100
    failed = [(tid, text) for tid, text in outcomes if not text.startswith("Submitted: 10/10")]
    assert failed == []


@pytest.fixture(scope="module")
def task() -> CodeTask:
    return build_task(0, 0)  # prime_sum-000: sum of primes p < n with p % 4 == 1


async def test_wrong_code_fails_some_tests(task: CodeTask) -> None:
    assert task.examples[0].args == [10] and task.examples[0].expected == 5
    wrong = "def solve(n):\n    return sum(p for p in (5, 13, 17, 29) if p < n)\n"
    verdict = await verify(Sandbox(), task, wrong, CommandLimits())
    assert 0 < verdict.passed < verdict.total == 10 and verdict.loaded
    assert verdict.failures[0].startswith("solve(")
    assert "expected" in verdict.failures[0] and "returned" in verdict.failures[0]


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("def solve(n:\n", "The code did not load: SyntaxError: '(' was never closed"),
        ("x = 1\n", "The code did not load: NameError: the code does not define"),
        ("import sys\nsys.exit(0)\n", "The code did not load: SystemExit: 0"),
        ("def solve(n):\n    while True:\n        pass\n", "The run was killed: CPU time limit"),
    ],
    ids=["syntax-error", "no-solve", "exits-while-loading", "infinite-loop"],
)
async def test_code_that_cannot_run_scores_zero(task: CodeTask, code: str, problem: str) -> None:
    verdict = await verify(Sandbox(), task, code, CommandLimits(cpu_seconds=1))
    assert verdict.passed == 0 and verdict.fraction == 0.0
    assert verdict.problem.startswith(problem), verdict.problem


async def test_errors_and_prints_in_solve_are_handled(task: CodeTask) -> None:
    code = (
        "def solve(n):\n"
        "    print('noise ' * 1000)\n"  # printing is discarded, not counted as output
        "    if n > 1000:\n"
        "        raise ValueError('too big')\n"
        "    return sum(p for p in range(2, n) if all(p % d for d in range(2, p)) and p % 4 == 1)\n"
    )
    verdict = await verify(Sandbox(), task, code, CommandLimits())
    small = sum(1 for t in task.tests if t.args[0] <= 1000)
    assert verdict.passed == small and verdict.problem == ""
    assert any("raised ValueError: too big" in f for f in verdict.failures)


async def test_forged_result_lines_earn_nothing(task: CodeTask) -> None:
    # The code reads the harness (marker and inputs) and prints "ok" lines with made-up
    # answers; without the expected outputs, which never enter the sandbox, they fail.
    code = (
        "import os, re, sys\n"
        "harness = open(os.path.join(sys.path[0], 'main.py')).read()\n"
        "mark = re.search(r\"_MARK = '([^']+)'\", harness).group(1)\n"
        "for i in range(10):\n"
        "    os.write(1, f'{mark} ok {i} 0\\n'.encode())\n"
        "def solve(n):\n"
        "    return 0\n"
    )
    verdict = await verify(Sandbox(), task, code, CommandLimits())
    assert verdict.passed == sum(1 for t in task.tests if t.expected == 0)


def test_judge_compares_json_strictly(task: CodeTask) -> None:
    def result(lines: list[str]) -> ExecResult:
        return ExecResult("\n".join(lines), "", 0, None, False, None, False, False, 0.0,
                          CommandLimits(), False)  # fmt: skip

    exact = [f"M ok {i} {json.dumps(t.expected)}" for i, t in enumerate(task.tests)]
    assert judge(task, result(exact), "M").passed == 10
    as_float = [f"M ok {i} {float(t.expected)}" for i, t in enumerate(task.tests)]
    assert judge(task, result(as_float), "M").passed == 0  # 5.0 is not 5
    other_marker = [line.replace("M ", "X ", 1) for line in exact]
    verdict = judge(task, result(other_marker), "M")
    assert verdict.passed == 0 and "did not finish" in verdict.failures[0]
