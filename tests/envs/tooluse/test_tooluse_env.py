"""`tooluse.store`: registration, the episode protocol, the tau-bench reward, determinism."""

from __future__ import annotations

import pytest

from palaestra.core import Action, ToolCall, UserError
from palaestra.envs import Environment, check_env, get_spec, make
from palaestra.envs.tooluse import STORE, StoreEnv, ToolUseEnv, ToolUseParams
from palaestra.envs.tooluse._baselines import final_reply
from palaestra.envs.tooluse._user import STOP


def _store(**params: object) -> ToolUseEnv:
    env = make("tooluse.store", **params)
    assert isinstance(env, StoreEnv) and isinstance(env, Environment)
    return env


def _call(name: str, **arguments: object) -> Action:
    return Action(tool_calls=[ToolCall(id=f"c_{name}", name=name, arguments=arguments)])


def test_registered_with_params_and_baseline() -> None:
    spec = get_spec("tooluse.store")
    assert spec.params is ToolUseParams and spec.baseline is not None
    defaults = {p["name"]: p["default"] for p in spec.describe_params()}
    assert defaults == {
        "db_seed": 0,
        "num_tasks": 20,
        "max_turns": 30,
        "user": "scripted",
        "check_transfer": False,
    }
    env = _store()
    assert len(env.tasks()) == 20 and env.agents == ["agent"]
    with pytest.raises(UserError, match="num_tasks"):
        make("tooluse.store", num_tasks=0)
    with pytest.raises(UserError, match="colour"):
        make("tooluse.store", colour="red")


async def test_first_observation_shows_policy_tools_and_customer() -> None:
    env = _store()
    task = env.task(env.tasks()[1])
    observation = (await env.reset(0, task.id))["agent"]
    assert observation.text.startswith(STORE.policy)
    assert "modify_pending_order_address(order_id, address1" in observation.text
    assert observation.text.endswith(task.instruction)
    assert [t.name for t in observation.tools] == [t.name for t in STORE.tools]
    assert [(m.role, m.content) for m in observation.messages] == [
        ("system", STORE.policy),
        ("user", task.instruction),
    ]
    assert observation.data == {
        "task_id": task.id,
        "turn": 0,
        "source": "user",
        "user_message": task.instruction,
    }


async def test_unknown_task_and_misuse_of_step_are_user_errors() -> None:
    env = _store(num_tasks=4)
    with pytest.raises(UserError, match="valid tasks: cancel-000, modify_address-001"):
        await env.reset(0, "cancel-999")
    with pytest.raises(UserError, match="call reset"):
        await env.step({"agent": Action(text="hi")})
    await env.reset(0, "cancel-000")
    with pytest.raises(UserError, match="for 'agent'"):
        await env.step({"bob": Action(text="hi")})


async def test_seed_picks_the_task_when_none_is_given() -> None:
    env = _store(num_tasks=4)
    for seed in range(6):
        observation = (await env.reset(seed))["agent"]
        assert observation.data["task_id"] == env.tasks()[seed % 4]


@pytest.mark.parametrize(("db_seed", "num_tasks"), [(0, 20), (1, 20), (2, 100)])
async def test_every_tasks_ground_truth_scores_one(db_seed: int, num_tasks: int) -> None:
    env = _store(db_seed=db_seed, num_tasks=num_tasks)
    for task_id in env.tasks():
        task = env.task(task_id)
        await env.reset(0, task_id)
        for call in task.actions:
            step = await env.step({"agent": _call(call.name, **call.arguments)})
            result = step.observations["agent"].messages[0]
            assert result.role == "tool" and result.tool_call_id == f"c_{call.name}"
            assert not result.content.startswith("Error"), (task_id, call, result.content)
            assert not step.terminated and step.rewards == {"agent": 0.0}
        step = await env.step({"agent": Action(text=final_reply(task))})
        assert step.terminated and not step.truncated
        assert STOP in step.observations["agent"].messages[0].content
        score = env.score()
        assert (score.value, score.success) == (1.0, True), (task_id, score.explanation)
        assert score.metrics == {"db_match": 1.0, "outputs_found": 1.0, "transfer_match": 1.0}
        assert step.rewards == {"agent": 1.0}


@pytest.mark.parametrize("intent", ["cancel", "modify_address", "return", "lookup"])
async def test_doing_nothing_scores_zero(intent: str) -> None:
    env = _store()
    task_id = next(t for t in env.tasks() if t.startswith(intent))
    await env.reset(0, task_id)
    await env.step({"agent": _call("get_user_details", user_id="x")})
    step = await env.step({"agent": Action(text="All done, goodbye.")})
    assert step.terminated and step.rewards == {"agent": 0.0}
    score = env.score()
    assert score.value == 0.0 and not score.success
    if intent == "lookup":
        assert score.metrics == {"db_match": 1.0, "outputs_found": 0.0, "transfer_match": 1.0}
        assert "missing" in score.explanation
    else:
        assert score.metrics == {"db_match": 0.0, "outputs_found": 1.0, "transfer_match": 1.0}


async def test_outputs_match_case_insensitively_with_commas_removed() -> None:
    env = _store()
    task = env.task(next(t for t in env.tasks() if t.startswith("lookup")))
    await env.reset(0, task.id)
    status, total = task.outputs
    whole, cents = total.split(".")
    shown = f"{int(whole):,}.{cents}"
    await env.step({"agent": Action(text=f"Order status: {status.upper()}.")})
    await env.step({"agent": _call("get_order_details", order_id="#W0")})
    step = await env.step({"agent": Action(text=f"The total was ${shown}.")})
    assert step.terminated and env.score().value == 1.0


async def test_tool_errors_are_observations_and_the_episode_goes_on() -> None:
    env = _store()
    await env.reset(0, env.tasks()[0])
    step = await env.step({"agent": _call("cancel_pending_order", order_id="#W0")})
    assert not step.terminated and not step.truncated
    observation = step.observations["agent"]
    assert observation.messages[0].content.startswith("Error: cancel_pending_order: missing")
    assert observation.data["tool_results"][0]["error"] is True
    assert step.info == {"source": "tool", "tool_calls": 1, "tool_errors": 1, "transferred": False}
    assert "missing required argument(s): reason" in observation.text


async def test_questions_get_a_yes_and_the_patient_customer_eventually_leaves() -> None:
    env = _store()
    task = env.task(env.tasks()[0])
    await env.reset(0, task.id)
    step = await env.step({"agent": Action(text="Could you confirm your email?")})
    answer = step.observations["agent"].messages[0].content
    assert not step.terminated and answer.startswith("Yes, please go ahead.")
    assert task.instruction in answer
    for _ in range(3):
        step = await env.step({"agent": Action(text="Let me think.")})
        assert not step.terminated
    step = await env.step({"agent": Action(text="Still thinking.")})
    assert step.terminated and STOP in step.observations["agent"].text
    assert env.score().metrics["db_match"] == 0.0


async def test_transfer_ends_the_episode_and_skips_later_calls() -> None:
    env = _store()
    task = env.task(env.tasks()[0])
    await env.reset(0, task.id)
    order_id = task.actions[-1].arguments["order_id"]
    action = Action(
        tool_calls=[
            ToolCall(id="a", name="transfer_to_human_agents", arguments={"summary": "help"}),
            ToolCall(id="b", name="cancel_pending_order",
                     arguments={"order_id": order_id, "reason": "no longer needed"}),
        ]
    )  # fmt: skip
    step = await env.step({"agent": action})
    assert step.terminated and step.info["transferred"] is True
    assert [m.tool_call_id for m in step.observations["agent"].messages] == ["a"]
    assert env.state()["orders"][order_id]["status"] == "pending"
    assert env.score().value == 0.0
    with pytest.raises(UserError):
        await env.step({"agent": Action(text="hello?")})


async def test_truncated_after_max_turns() -> None:
    env = _store(max_turns=3)
    await env.reset(0, env.tasks()[0])
    for turn in range(1, 4):
        step = await env.step({"agent": _call("get_user_details", user_id="nobody")})
        assert step.truncated == (turn == 3) and not step.terminated
    assert step.rewards == {"agent": 0.0}


async def test_reset_restores_the_initial_database() -> None:
    env = _store()
    initial = env.state()
    task = env.task(env.tasks()[0])
    await env.reset(0, task.id)
    for call in task.actions:
        await env.step({"agent": _call(call.name, **call.arguments)})
    assert env.state() != initial
    await env.reset(0, task.id)
    assert env.state() == initial


async def test_same_params_and_task_give_identical_episodes(run_episode) -> None:
    spec = get_spec("tooluse.store")
    params = spec.validate({"db_seed": 4})
    runs = []
    for _ in range(2):
        env = spec.make(db_seed=4)
        transcript = await run_episode(env, spec.baseline(params, "agent"), "return-002")
        runs.append(([o.model_dump() for o in transcript.observations], env.state()))
    assert runs[0] == runs[1]
    other = _store(db_seed=5)
    await other.reset(0, "return-002")
    assert other.state() != runs[0][1]


@pytest.mark.parametrize("task", ["cancel-000", "lookup-003"])
async def test_check_env_passes(task: str) -> None:
    report = await check_env("tooluse.store", task=task, params={"db_seed": 1})
    assert report.score.value == 1.0 and report.steps == 4
    report = await check_env(StoreEnv(ToolUseParams(db_seed=1)), task=task)
    assert report.score.value == 1.0, "an instance is checked with its registered baseline"
    report = await check_env(_store(), task=task, actions=lambda agent, obs: Action(text="?"))
    assert report.score.value == 0.0 and report.steps == 5


def test_direct_construction_validates_params() -> None:
    assert StoreEnv().params == ToolUseParams()
    with pytest.raises(UserError, match="max_turns"):
        ToolUseEnv(STORE, max_turns=0)
