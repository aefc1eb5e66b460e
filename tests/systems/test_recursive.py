"""Recursive (ROMA): a dependent sub-task waits for its dependencies and gets their
results; independent ones run concurrently; the recursion stops at max_depth; an unusable
plan is re-asked once, then the task is solved as atomic, with a message saying why."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaestra.core import Observation, UserError
from palaestra.models import ScriptedModel
from palaestra.operators import FunctionOperator, LLMOperator
from palaestra.systems import Centralized, Recursive
from palaestra.systems._recursive import read_plan
from tests.systems.conftest import PlayFn

ATOMIC = '{"atomic": true}'
COMPOSITE = '{"atomic": false}'


def _llm(**kwargs) -> LLMOperator:
    return LLMOperator(ScriptedModel(**kwargs))


def _last_result(request) -> str:
    """An aggregator that answers with the result of the last sub-task."""
    return re.findall(r"^- \[[^\]]+\] .*?: (.*)$", request.messages[-1].content, re.M)[-1]


def _says(text: str) -> FunctionOperator:
    return FunctionOperator(lambda observation, ctx: text, name=text)


async def test_dependent_subtask_waits_and_gets_results_independent_ones_run_together(
    play: PlayFn,
):
    plan = [
        {"id": "x", "task": "find x", "deps": []},
        {"id": "y", "task": "find y", "deps": []},
        {"id": "sum", "task": "add x and y", "deps": ["x", "y"]},
    ]
    started = {"find x": asyncio.Event(), "find y": asyncio.Event()}

    async def execute(observation: Observation, ctx) -> str:
        task = observation.text.splitlines()[0]
        if task in started:  # x and y only finish if they run at the same time
            started[task].set()
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), 2)
            return {"find x": "6", "find y": "7"}[task]
        assert "[x]: 6" in observation.text and "[y]: 7" in observation.text
        return "42"

    system = Recursive(
        atomizer=_llm(fn=lambda r: COMPOSITE if r.agent == "agent/root/atomizer" else ATOMIC),
        planner=_llm(replies=[f"Plan:\n```json\n{json.dumps(plan)}\n```"]),
        executor=FunctionOperator(execute),
        aggregator=_llm(fn=_last_result),
    )
    played = await play(system)
    assert played.success and played.actions()[0].text == "42"

    def seq(sender: str, recipient: str) -> int:
        return next(
            e.seq
            for e in played.of("message")
            if e.payload.sender == sender and e.payload.recipients == [recipient]
        )

    # x and y are opened before either answers; sum only after both answered
    assert seq("agent/root", "agent/root/x") < seq("agent/root", "agent/root/y")
    assert seq("agent/root/y", "agent/root") < seq("agent/root", "agent/root/sum")
    assert seq("agent/root/x", "agent/root") < seq("agent/root", "agent/root/sum")
    to_sum = next(m for m in played.messages() if m.recipients == ["agent/root/sum"])
    assert "add x and y" in to_sum.content and "[x]: 6" in to_sum.content
    # every sub-task below max_depth asked its own atomizer, then its executor answered
    agents = {e.agent for e in played.events}
    assert {"agent/root/x/atomizer", "agent/root/x/executor", "agent/root/sum/executor"} <= agents
    assert "agent/root/executor" not in agents  # the root was decomposed, then aggregated
    aggregate = played.last_user_text("agent/root/aggregator")
    assert "- [x] find x: 6" in aggregate and "- [sum] add x and y: 42" in aggregate
    assert played.talk()[0] == ("agent", ["agent/root"], None)
    assert played.talk()[-1] == ("agent/root", ["agent"], None)


async def test_recursion_stops_at_max_depth(play: PlayFn):
    executor = _llm(fn=lambda r: "42")
    system = Recursive(
        atomizer=_llm(fn=lambda r: COMPOSITE),  # always says: decompose
        planner=_llm(fn=lambda r: '[{"id": "p", "task": "a part", "deps": []}]'),
        executor=executor,
        aggregator=_llm(fn=_last_result),
        max_depth=2,
    )
    played = await play(system)
    agents = {e.agent for e in played.of("model_request")}
    assert agents == {
        "agent/root/atomizer",
        "agent/root/planner",
        "agent/root/aggregator",
        "agent/root/p/atomizer",
        "agent/root/p/planner",
        "agent/root/p/aggregator",
        "agent/root/p/p/executor",  # depth 2: executed without asking the atomizer
    }
    assert played.success
    shallow = Recursive(
        atomizer=_says(COMPOSITE),
        planner=_says("never asked"),
        executor=_says("42"),
        aggregator=_says("never asked"),
        max_depth=0,
    )
    played = await play(shallow)
    assert played.talk() == [
        ("agent", ["agent/root"], None),
        ("agent/root", ["agent/root/executor"], None),
        ("agent/root/executor", ["agent/root"], None),
        ("agent/root", ["agent"], None),
    ]


@pytest.mark.parametrize(
    ("second", "atomic"),
    [
        (
            '[{"id": "a", "task": "t", "deps": ["b"]}, {"id": "b", "task": "u", "deps": ["a"]}]',
            True,
        ),
        ('[{"id": "a", "task": "six times seven"}]', False),
    ],
)
async def test_unusable_plan_is_reasked_once_then_atomic(play: PlayFn, second: str, atomic: bool):
    cyclic = '[{"id": "a", "task": "t", "deps": ["b"]}, {"id": "b", "task": "u", "deps": ["a"]}]'
    system = Recursive(
        atomizer=_llm(fn=lambda r: COMPOSITE if r.agent == "agent/root/atomizer" else ATOMIC),
        planner=_llm(replies=[cyclic, second]),
        executor=_says("42"),
        aggregator=_llm(fn=lambda r: "42"),
    )
    played = await play(system)
    to_planner = [m for m in played.messages() if m.recipients == ["agent/root/planner"]]
    assert len(to_planner) == 2
    assert "cycle among sub-tasks a, b" in to_planner[1].content
    # the re-ask is in the same conversation as the first attempt
    assert [m.role for m in played.requests("agent/root/planner")[1].messages] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
    notes = [m for m in played.messages() if "could not be used twice" in m.content]
    agents = {e.agent for e in played.events}
    if atomic:
        assert [(n.sender, n.recipients) for n in notes] == [("agent/root", ["agent"])]
        assert "cycle" in notes[0].content
        assert "agent/root/executor" in agents and "agent/root/a" not in agents
    else:
        assert notes == [] and "agent/root/a/executor" in agents
    assert played.success


async def test_root_roles_see_env_tools_and_their_calls_pass_through(play: PlayFn):
    from tests.systems.conftest import QuestionEnv

    executor = _llm(
        replies=[ScriptedModel.call("lookup", key="q"), "42"],
    )
    system = Recursive(
        atomizer=_says(ATOMIC),
        planner=_says("-"),
        executor=executor,
        aggregator=_says("-"),
    )
    played = await play(system, QuestionEnv(facts={"q": "42"}))
    first = played.actions()[0]
    assert [c.name for c in first.tool_calls] == ["lookup"]
    assert [t.name for t in played.requests("agent/root/executor")[0].tools] == ["lookup"]
    assert played.success


async def test_a_role_may_be_a_system(play: PlayFn):
    team = Centralized(
        _llm(replies=[ScriptedModel.call("delegate_to_calc", task="6*7"), "42"], cycle=True),
        {"calc": _says("42")},
    )
    system = Recursive(
        atomizer=_says(ATOMIC), planner=_says("-"), executor=team, aggregator=_says("-")
    )
    played = await play(system)
    assert ("agent/root/executor", ["agent/root/executor/calc"], None) in played.talk()
    assert played.success
    assert played.events[0].payload.operators["agent"].startswith("recursive(max_depth=2;")


def test_read_plan_hand_checked_cases():
    plan, problem = read_plan(
        '{"subtasks": [{"id": 1, "task": "a"}, {"id": 2, "task": "b", "deps": [1]}]}'
    )
    assert problem == "" and plan is not None
    assert [[s.id for s in wave] for wave in plan.waves] == [["1"], ["2"]]
    cases = {
        "no plan here": "no JSON array",
        "[]": "no sub-tasks",
        '[{"id": "a"}]': "sub-task 0: task: Field required",
        '[{"id": "a", "task": "t"}, {"id": "a", "task": "u"}]': "'a' is used twice",
        '[{"id": "a", "task": "t", "deps": ["z"]}]': "depends on ['z']",
        '[{"id": "a", "task": "t", "deps": ["a"]}]': "depends on ['a']",
        '[{"id": "executor", "task": "t"}]': "not valid",
        '[{"id": "a/b", "task": "t"}]': "not valid",
    }
    for text, expected in cases.items():
        plan, problem = read_plan(text)
        assert plan is None and expected in problem, (text, problem)


def _has_cycle(deps: dict[str, list[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        if state.get(node) == 1:
            return True
        if state.get(node) == 2:
            return False
        state[node] = 1
        if any(visit(d) for d in deps[node]):
            return True
        state[node] = 2
        return False

    return any(visit(node) for node in deps)


@given(
    st.integers(1, 7).flatmap(
        lambda n: st.lists(st.sets(st.integers(0, n - 1)), min_size=n, max_size=n)
    )
)
def test_waves_are_the_earliest_layering_and_cycles_are_refused(edges: list[set[int]]):
    deps = {f"t{i}": [f"t{j}" for j in sorted(edges[i]) if j != i] for i in range(len(edges))}
    text = json.dumps([{"id": k, "task": k, "deps": v} for k, v in deps.items()])
    plan, problem = read_plan(text)
    if _has_cycle(deps):
        assert plan is None and "cycle" in problem
        return
    assert plan is not None
    level = {s.id: k for k, wave in enumerate(plan.waves) for s in wave}
    assert sorted(level) == sorted(deps)
    for node, needs in deps.items():  # after its dependencies, as early as possible
        assert level[node] == (1 + max(level[d] for d in needs) if needs else 0)
    for wave in plan.waves:  # plan order within a wave
        assert [s.id for s in wave] == [k for k in deps if k in {s.id for s in wave}]


def test_bad_parameters_are_user_errors():
    ok = _says("x")
    with pytest.raises(UserError, match="max_depth must be an int >= 0"):
        Recursive(atomizer=ok, planner=ok, executor=ok, aggregator=ok, max_depth=-1)
    with pytest.raises(UserError, match="planner must be an operator"):
        Recursive(atomizer=ok, planner="plan", executor=ok, aggregator=ok)  # type: ignore[arg-type]
