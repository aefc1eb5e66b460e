"""Centralized: the orchestrator's delegate calls become messages to the right worker
and tool results holding the workers' replies; the per-step delegation limit; holistic
plans run concurrently with a log that does not depend on timing; nesting; forks."""

from __future__ import annotations

import asyncio

import pytest

from palaestra.core import Message, ModelError, Observation, ToolCall, UserError
from palaestra.models import ScriptedModel
from palaestra.operators import FunctionOperator, LLMOperator
from palaestra.systems import Centralized
from palaestra.systems._centralized import HOLISTIC_NOTE
from palaestra.tools import tool
from tests.systems.conftest import PlayFn, QuestionEnv


def _calls(*calls: tuple[str, str]) -> Message:
    """One assistant message delegating several tasks at once."""
    return Message(
        role="assistant",
        tool_calls=[
            ToolCall(id=f"d{i}", name=f"delegate_to_{worker}", arguments={"task": task})
            for i, (worker, task) in enumerate(calls)
        ],
    )


def _echo(prefix: str) -> FunctionOperator:
    async def answer(observation: Observation, ctx) -> str:
        return f"{prefix}:{observation.text}"

    return FunctionOperator(answer, name=prefix)


async def test_delegations_are_messages_to_workers_and_replies_are_tool_results(play: PlayFn):
    orchestrator = LLMOperator(
        ScriptedModel(
            [
                ScriptedModel.call("delegate_to_math", task="6*7"),
                ScriptedModel.call("delegate_to_writer", task="say 42 politely"),
                "42",
            ],
            name="boss-model",
        )
    )
    math = LLMOperator(ScriptedModel(["42"], name="math-model"), system_prompt="You compute.")
    writer = LLMOperator(
        ScriptedModel(fn=lambda r: f"Kindly: {r.messages[-1].content}", name="writer-model")
    )
    system = Centralized(
        orchestrator, {"math": math, "writer": writer}, descriptions={"math": "does arithmetic"}
    )
    played = await play(system)

    assert played.success
    assert played.talk() == [
        ("agent", ["agent/math"], None),
        ("agent/math", ["agent"], None),
        ("agent", ["agent/writer"], None),
        ("agent/writer", ["agent"], None),
    ]
    assert [m.content for m in played.messages()] == [
        "6*7",
        "42",
        "say 42 politely",
        "Kindly: say 42 politely",
    ]
    results = [e.payload for e in played.of("tool_result", "agent")]
    assert [(r.name, r.content, r.is_error) for r in results] == [
        ("delegate_to_math", "42", False),
        ("delegate_to_writer", "Kindly: say 42 politely", False),
    ]
    # the orchestrator sees one delegate tool per worker, described, besides the env's
    first = played.requests("agent")[0]
    tools = {t.name: t for t in first.tools}
    assert set(tools) == {"delegate_to_math", "delegate_to_writer", "lookup"}
    assert "does arithmetic" in tools["delegate_to_math"].description
    assert tools["delegate_to_math"].parameters["required"] == ["task"]
    # each worker uses its own model, sees only its task (no env tools), and its turn
    # hangs under the message that delegated to it, between the call and its result
    math_request = played.of("model_request", "agent/math")[0]
    assert math_request.payload.model == "math-model" and math_request.payload.tools == []
    assert math_request.payload.messages[-1].content == "6*7"
    to_math = played.of("message", "agent")[0]
    assert math_request.parent == to_math.seq
    call = next(e for e in played.of("tool_call") if e.payload.call.name == "delegate_to_math")
    result = played.of("tool_result")[0]
    assert call.seq < to_math.seq < math_request.seq < result.seq
    assert played.requests("agent")[0].model == "boss-model"
    assert played.actions()[0].text == "42"


async def test_env_tool_calls_pass_through_and_results_come_back(play: PlayFn):
    orchestrator = LLMOperator(
        ScriptedModel(
            [
                ScriptedModel.call("delegate_to_scout", task="which key?"),
                ScriptedModel.call("lookup", key="answer"),
                "42",
            ]
        )
    )
    system = Centralized(orchestrator, {"scout": _echo("scout")})
    played = await play(system, QuestionEnv(facts={"answer": "42"}))
    first, second = played.actions()
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("lookup", {"key": "answer"})]
    assert second.text == "42" and played.success
    # the environment's result reached the orchestrator as the answer to its own call
    last = played.requests("agent")[-1].messages
    assert last[-1].role == "tool" and last[-1].tool_call_id == first.tool_calls[0].id


async def test_max_delegations_per_step_is_enforced_and_resets_each_step(play: PlayFn):
    orchestrator = LLMOperator(
        ScriptedModel(
            [
                _calls(("w", "one"), ("w", "two"), ("w", "three")),
                ScriptedModel.call("lookup", key="k"),
                ScriptedModel.call("delegate_to_w", task="four"),
                "42",
            ]
        )
    )
    system = Centralized(orchestrator, {"w": _echo("w")}, max_delegations=2)
    played = await play(system)
    assert [m.content for m in played.messages() if m.sender == "agent"] == ["one", "two", "four"]
    results = [e.payload for e in played.of("tool_result") if e.payload.name == "delegate_to_w"]
    assert [(r.content, r.is_error) for r in results[:2]] == [("w:one", False), ("w:two", False)]
    assert results[2].is_error and "delegation limit reached: at most 2" in results[2].content
    assert results[3].content == "w:four" and not results[3].is_error  # next step: fresh count
    # the refusal went back to the model, which could read it
    assert "delegation limit" in (played.requests("agent")[1].messages[-1].content or "")


async def test_bad_delegate_arguments_are_an_error_the_model_reads(play: PlayFn):
    orchestrator = LLMOperator(ScriptedModel([ScriptedModel.call("delegate_to_w", job="x"), "42"]))
    played = await play(Centralized(orchestrator, {"w": _echo("w")}))
    result = played.of("tool_result")[0].payload
    assert result.is_error and "invalid arguments for tool 'delegate_to_w'" in result.content
    assert "task: Field required" in result.content
    assert played.messages() == [] and played.success


def _racing_workers(first_to_finish: str) -> dict[str, FunctionOperator]:
    """Two workers that only finish if they run at the same time; `first_to_finish`
    returns before the other."""
    started = {"slow": asyncio.Event(), "fast": asyncio.Event()}
    done_fast = asyncio.Event()

    def worker(name: str) -> FunctionOperator:
        other = "fast" if name == "slow" else "slow"

        async def answer(observation: Observation, ctx) -> str:
            started[name].set()
            await asyncio.wait_for(started[other].wait(), 2)  # fails if run one by one
            if name != first_to_finish:
                await asyncio.wait_for(done_fast.wait(), 2)
            else:
                done_fast.set()
            return f"{name} did {observation.text}"

        return FunctionOperator(answer, name=name)

    return {name: worker(name) for name in ("slow", "fast")}


def _shape(played) -> list[tuple]:
    return [(e.seq, e.kind, e.agent, e.parent) for e in played.events]


@pytest.mark.parametrize("first_to_finish", ["slow", "fast"])
async def test_holistic_plan_runs_concurrently_with_a_log_in_call_order(
    play: PlayFn, first_to_finish: str
):
    model = ScriptedModel([_calls(("slow", "part A"), ("fast", "part B")), "42"], cycle=True)
    system = Centralized(LLMOperator(model), _racing_workers(first_to_finish), mode="holistic")
    played = await play(system)
    assert played.success
    assert played.talk() == [
        ("agent", ["agent/slow"], None),
        ("agent/slow", ["agent"], None),
        ("agent", ["agent/fast"], None),
        ("agent/fast", ["agent"], None),
    ]
    kinds = [e.kind for e in played.events if e.agent == "agent"]
    assert kinds[kinds.index("tool_call") :][:6] == [
        "tool_call",
        "tool_call",
        "message",
        "message",
        "tool_result",
        "tool_result",
    ]
    results = [e.payload.content for e in played.of("tool_result")]
    assert results == ["slow did part A", "fast did part B"]
    # all results are in the orchestrator's next request, and the plan note in its prompt
    final = played.requests("agent")[1].messages
    assert [m.content for m in final if m.role == "tool"] == results
    assert final[0].content.endswith(HOLISTIC_NOTE)
    # the same log whichever worker finished first
    other = "fast" if first_to_finish == "slow" else "slow"
    again = await play(Centralized(LLMOperator(model), _racing_workers(other), mode="holistic"))
    assert _shape(again) == _shape(played)


async def test_a_failing_worker_ends_the_episode_and_cancels_the_others(play: PlayFn):
    cancelled = asyncio.Event()

    async def hangs(observation: Observation, ctx) -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async def fails(observation: Observation, ctx) -> str:
        await asyncio.sleep(0)
        raise ModelError("provider down")

    system = Centralized(
        LLMOperator(ScriptedModel([_calls(("hangs", "a"), ("fails", "b")), "42"])),
        {"hangs": FunctionOperator(hangs), "fails": FunctionOperator(fails)},
        mode="holistic",
    )
    played = await asyncio.wait_for(play(system, allow_error=True), 10)
    # the worker's failure keeps its type (not a tool error, not an exception group)
    assert played.end.reason == "error" and played.end.error == "ModelError: provider down"
    assert cancelled.is_set()
    assert [e.kind for e in played.of("tool_call")] == ["tool_call", "tool_call"]


async def test_holistic_refuses_delegations_after_the_plan(play: PlayFn):
    worker = LLMOperator(ScriptedModel(["r1", "r2", "r3"]))
    orchestrator = LLMOperator(
        ScriptedModel(
            [
                _calls(("w", "first"), ("w", "second")),
                ScriptedModel.call("delegate_to_w", task="third"),
                "42",
            ]
        )
    )
    played = await play(Centralized(orchestrator, {"w": worker}, mode="holistic"))
    results = [e.payload for e in played.of("tool_result")]
    # the same worker twice in one plan: one at a time, in call order, one conversation
    assert [(r.content, r.is_error) for r in results[:2]] == [("r1", False), ("r2", False)]
    assert results[2].is_error and "plan of this step has already run" in results[2].content
    second = played.requests("agent/w")[1].messages
    assert [m.content for m in second if m.role != "system"] == ["first", "r1", "second"]
    assert played.success


async def test_a_worker_may_be_a_system_and_forks_are_fresh(play: PlayFn):
    inner = Centralized(
        LLMOperator(
            ScriptedModel([ScriptedModel.call("delegate_to_leaf", task="x"), "4"], cycle=True)
        ),
        {"leaf": _echo("leaf")},
    )
    outer = Centralized(
        LLMOperator(
            ScriptedModel([ScriptedModel.call("delegate_to_team", task="2+2?"), "42"], cycle=True)
        ),
        {"team": inner},
    )
    played = await play(outer)
    assert played.talk() == [
        ("agent", ["agent/team"], None),
        ("agent/team", ["agent/team/leaf"], None),
        ("agent/team/leaf", ["agent/team"], None),
        ("agent/team", ["agent"], None),
    ]
    assert [e.payload.content for e in played.of("tool_result", "agent/team")] == ["leaf:x"]
    assert "centralized[iterative]" in played.events[0].payload.operators["agent"]
    # a second episode from the same prototype starts a fresh conversation
    again = await play(outer)
    assert [m.role for m in again.requests("agent")[0].messages] == ["system", "user"]
    assert again.talk() == played.talk()


@tool
def delegate_to_x(task: str) -> str:
    """A tool whose name a worker would take."""
    return task


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Centralized(_echo("e"), {"w": _echo("w")}), "must be an LLMOperator"),  # type: ignore[arg-type]
        (lambda: Centralized(LLMOperator(ScriptedModel(["x"])), {}), "at least one"),
        (lambda: Centralized(LLMOperator(ScriptedModel(["x"])), {"a b": _echo("w")}), "'a b'"),
        (
            lambda: Centralized(LLMOperator(ScriptedModel(["x"])), {"w": _echo("w")}, mode="x"),  # type: ignore[arg-type]
            "valid modes: 'iterative', 'holistic'",
        ),
        (
            lambda: Centralized(
                LLMOperator(ScriptedModel(["x"])), {"w": _echo("w")}, max_delegations=0
            ),
            "max_delegations must be >= 1",
        ),
        (
            lambda: Centralized(
                LLMOperator(ScriptedModel(["x"])), {"w": _echo("w")}, descriptions={"v": "?"}
            ),
            "unknown workers ['v']",
        ),
        (
            lambda: Centralized(
                LLMOperator(ScriptedModel(["x"]), tools=[delegate_to_x]), {"x": _echo("w")}
            ),
            "already has tools named ['delegate_to_x']",
        ),
        (lambda: Centralized(LLMOperator(ScriptedModel(["x"])), {"w": 3}), "not an operator"),  # type: ignore[dict-item]
    ],
)
def test_bad_parameters_are_user_errors(build, message: str):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build()


def test_with_tools_forks_without_touching_the_prototype():
    prototype = LLMOperator(ScriptedModel(["x"]), tools=[delegate_to_x])

    @tool
    def extra(a: int) -> int:
        """Another tool."""
        return a

    forked = prototype.with_tools([extra], concurrent=True)
    assert list(forked.tools) == ["delegate_to_x", "extra"]
    assert [s.name for s in forked._own_specs] == ["delegate_to_x", "extra"]
    assert list(prototype.tools) == ["delegate_to_x"] and not prototype._concurrent_tools
    assert forked._history == [] and forked.model is prototype.model
    with pytest.raises(ValueError, match="already used by this operator: delegate_to_x"):
        prototype.with_tools([delegate_to_x])
