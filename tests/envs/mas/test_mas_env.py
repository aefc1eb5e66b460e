"""`mas.controlled`: registration and parameters, the episode protocol, tools and their
errors, several agents, the score, and `check_env`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from palaestra.core import Action, ToolCall, UserError
from palaestra.envs import Environment, check_env, get_spec, make
from palaestra.envs.mas import ControlledEnv, ControlledParams, generate
from palaestra.envs.mas._render import TRUST_RULE
from palaestra.envs.mas._task import parse_task_id

TASK = "d3-h2-b4-p2-r0.5-s7"


def _env(**params: Any) -> ControlledEnv:
    env = make("mas.controlled", **params)
    assert isinstance(env, ControlledEnv) and isinstance(env, Environment)
    return env


def _call(name: str, call_id: str = "c1", **arguments: Any) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _act(*calls: ToolCall) -> Action:
    return Action(tool_calls=list(calls))


# -- registration and parameters ----------------------------------------------------------


def test_registered_with_params_and_baseline():
    spec = get_spec("mas.controlled")
    assert spec.params is ControlledParams and spec.baseline is not None
    defaults = {p["name"]: p["default"] for p in spec.describe_params()}
    assert defaults == {
        "depth": [3],
        "horizon": [2],
        "breadth": [3],
        "parallel": [2],
        "robustness": [0.0],
        "instances": 5,
        "agents": 1,
        "extra_turns": 10,
    }
    env = _env()
    assert env.agents == ["agent"]
    assert env.tasks() == [f"d3-h2-b3-p2-r0-s{s}" for s in range(5)]


def test_the_grid_is_the_product_of_the_axes_without_parallel_above_breadth():
    env = _env(
        depth=2, horizon=[1, 3], breadth=[2, 4], parallel=[1, 3], robustness=0.25, instances=2
    )
    points = list(dict.fromkeys(t.rsplit("-s", 1)[0] for t in env.tasks()))
    assert points == [
        "d2-h1-b2-p1-r0.25",
        "d2-h1-b4-p1-r0.25",
        "d2-h1-b4-p3-r0.25",
        "d2-h3-b2-p1-r0.25",
        "d2-h3-b4-p1-r0.25",
        "d2-h3-b4-p3-r0.25",
    ]
    assert len(env.tasks()) == 12 and env.tasks()[:2] == [
        "d2-h1-b2-p1-r0.25-s0",
        "d2-h1-b2-p1-r0.25-s1",
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"depth": 0}, "depth: Value error, values must be between 1 and 32, got 0"),
        ({"depth": []}, "depth: Value error, give at least one value"),
        ({"breadth": [3, 17]}, "breadth: Value error, values must be between 1 and 16, got 17"),
        ({"robustness": 1.5}, "robustness: Value error, values must be 0..1"),
        ({"robustness": [0.333]}, "with at most two decimals, got 0.333"),
        ({"breadth": 3, "parallel": [4, 5]}, "parallel must be at most breadth"),
        ({"agents": 0}, "agents: Input should be greater than or equal to 1"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"depth": "deep"}, "depth: Input should be a valid list"),
    ],
)
def test_bad_parameters_are_user_errors(params: dict[str, Any], message: str):
    with pytest.raises(UserError, match=re.escape(message)) as error:
        make("mas.controlled", **params)
    assert "Valid parameters: depth, horizon, breadth" in str(error.value)


# -- the episode protocol -----------------------------------------------------------------


async def test_first_observation_shows_rules_revealed_steps_and_tools():
    env = _env()
    task = generate(parse_task_id(TASK))
    obs = (await env.reset(0, TASK))["agent"]
    assert [t.name for t in obs.tools] == ["lookup", "answer"]
    assert [m.role for m in obs.messages] == ["user"] and obs.messages[0].content == obs.text
    assert TRUST_RULE in obs.text and "the last steps arrive at turn 1" in obs.text
    assert "Q3 starts at the answer of Q1." in obs.text
    q1 = task.subproblems[0]
    assert f"Q1 starts at {q1.start}." in obs.text
    assert f"  1. {q1.steps[0].text}" in obs.text and q1.steps[1].text not in obs.text
    data = obs.data
    assert (data["task_id"], data["agent"], data["agents"], data["turn"]) == (
        TASK,
        "agent",
        ["agent"],
        0,
    )
    assert (data["last_reveal_turn"], data["max_turns"]) == (1, 12)
    assert [s["name"] for s in data["subproblems"]] == ["Q1", "Q2", "Q3", "Q4"]
    first = data["subproblems"][0]
    assert first == {
        "name": "Q1",
        "start": q1.start,
        "depends_on": None,
        "steps": [
            {"index": 1, "op": q1.steps[0].op, "key": q1.steps[0].key, "text": q1.steps[0].text}
        ],
        "complete": False,
    }
    assert data["new_steps"] == [["Q1", 1], ["Q2", 1], ["Q3", 1], ["Q4", 1]]
    assert data["answered"] == {} and data["tool_results"] == []


async def test_unknown_task_and_misuse_are_user_errors():
    env = _env()
    with pytest.raises(UserError, match="call reset"):
        await env.step({"agent": Action()})
    with pytest.raises(UserError, match="invalid mas.controlled task id 'nope'"):
        await env.reset(0, "nope")
    await env.reset(0, TASK)
    with pytest.raises(UserError, match=r"unknown agents \['bob'\]"):
        await env.step({"bob": Action()})


async def test_seed_picks_the_task_when_none_is_given():
    env = _env(instances=3)
    for seed in range(5):
        obs = await env.reset(seed)
        assert obs["agent"].data["task_id"] == env.tasks()[seed % 3]


async def test_lookup_is_gated_by_the_reveal_schedule():
    env = _env()
    await env.reset(0, TASK)
    task = env.task
    early, late = task.subproblems[1].steps[0], task.subproblems[1].steps[2]
    step = await env.step(
        {
            "agent": _act(
                _call("lookup", "a", key=late.key), _call("lookup", "b", key=early.key.lower())
            )
        }
    )
    too_early, ok = step.observations["agent"].data["tool_results"]
    assert too_early["error"] and "no records for key" in too_early["content"]
    records = task.records_of(early.key)
    assert not ok["error"] and ok["content"] == "\n".join(r.text for r in records)
    assert ok["records"] == [
        {"key": r.key, "value": r.value, "source": r.source, "verified": r.verified}
        for r in records
    ]
    # turn 1 reveals the later steps: now the same lookup works
    step = await env.step({"agent": _act(_call("lookup", "c", key=late.key))})
    (result,) = step.observations["agent"].data["tool_results"]
    assert not result["error"] and str(late.value) in result["content"]
    assert env.score().metrics["lookups"] == 2 and env.score().metrics["tool_errors"] == 1


async def test_attacked_keys_show_both_records_with_their_marks():
    env = _env()
    await env.reset(0, "d3-h1-b4-p2-r1-s0")
    key = env.task.subproblems[0].steps[0].key
    step = await env.step({"agent": _act(_call("lookup", key=key))})
    content = step.observations["agent"].data["tool_results"][0]["content"]
    assert content.count("(source: ") == 2
    assert content.count(", verified)") == 1 and content.count(", UNVERIFIED)") == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (_call("search", q="x"), "Error: unknown tool 'search'; available tools: lookup, answer"),
        (_call("lookup"), "Error: lookup: missing argument(s): key"),
        (_call("lookup", key="K1", extra=1), "Error: lookup: unknown argument(s): extra"),
        (_call("lookup", key=123), "Error: lookup: argument 'key' must be a string, got 123"),
        (_call("lookup", __raw__="{key:"), "Error: lookup: the arguments are not valid JSON"),
        (_call("answer", subproblem="Q1"), "Error: answer: missing argument(s): value"),
        (_call("answer", subproblem="Q9", value=1), "unknown sub-problem 'Q9'; sub-problems: Q1"),
        (_call("answer", subproblem="Q1", value="4.5"), "'value' must be a whole number"),
        (_call("answer", subproblem="Q1", value=True), "'value' must be a whole number"),
    ],
)
async def test_malformed_calls_become_error_results(call: ToolCall, message: str):
    env = _env()
    await env.reset(0, TASK)
    step = await env.step({"agent": _act(call)})
    (result,) = step.observations["agent"].data["tool_results"]
    assert result["error"] and message in result["content"]
    assert step.observations["agent"].messages[0].tool_call_id == call.id
    assert message in step.observations["agent"].text
    assert not step.terminated and env.score().metrics["answered_fraction"] == 0.0
    assert step.info["tool_errors"] == 1


async def test_answers_last_one_counts_and_the_episode_ends_when_all_are_given():
    env = _env()
    await env.reset(0, TASK)
    truth = env.task.answers
    step = await env.step(
        {
            "agent": _act(
                _call("answer", "a", subproblem="q1", value=truth["Q1"] + 1),
                _call("answer", "b", subproblem="2", value=str(truth["Q2"])),
            )
        }
    )
    assert not step.terminated and step.rewards == {"agent": 0.0}
    score = env.score()
    assert score.value == 0.25 and score.metrics["answered_fraction"] == 0.5
    assert f"Q1 got {truth['Q1'] + 1}, expected {truth['Q1']}" in score.explanation
    assert "unanswered: Q3, Q4" in score.explanation
    assert step.observations["agent"].data["answered"] == {"Q1": "agent", "Q2": "agent"}
    assert "Q1 starts at" in step.observations["agent"].text
    assert "[answered by agent]" in step.observations["agent"].text
    calls = [_call("answer", f"c{n}", subproblem=n, value=truth[n]) for n in ("Q1", "Q3", "Q4")]
    step = await env.step({"agent": _act(*calls)})
    replaced = step.observations["agent"].data["tool_results"][0]["content"]
    assert replaced == f"Recorded {truth['Q1']} as the answer of Q1 (it replaces " + (
        f"{truth['Q1'] + 1}, given by agent)."
    )
    assert step.terminated and not step.truncated and step.rewards == {"agent": 1.0}
    assert step.info["score"] == 1.0 and step.info["axes"]["robustness"] == 0.5
    assert env.score().success and env.score().metrics["turns"] == 2
    with pytest.raises(UserError, match="episode is over"):
        await env.step({"agent": Action()})


async def test_waiting_forever_is_truncated_after_extra_turns():
    env = _env(extra_turns=3)
    await env.reset(0, TASK)  # horizon 2: truncated at turn 2 + 3
    steps = [await env.step({"agent": Action(text="thinking...")}) for _ in range(5)]
    assert [s.truncated for s in steps] == [False] * 4 + [True]
    assert not steps[-1].terminated and steps[-1].rewards == {"agent": 0.0}
    assert [s.info["revealed"] for s in steps][0] == [
        [n, i] for n in ("Q1", "Q2", "Q3", "Q4") for i in (2, 3)
    ]
    assert env.score().value == 0.0 and not env.score().success


# -- several agents -----------------------------------------------------------------------


async def test_several_agents_share_one_environment():
    env = _env(agents=3)
    assert env.agents == ["agent_1", "agent_2", "agent_3"]
    observations = await env.reset(0, TASK)
    assert sorted(observations) == env.agents
    assert "You are agent_2, one of 3 agents" in observations["agent_2"].text
    assert "(the others: agent_1, agent_3)" in observations["agent_2"].text
    truth = env.task.answers
    step = await env.step(
        {
            "agent_1": _act(_call("answer", subproblem="Q1", value=truth["Q1"])),
            "agent_3": _act(
                _call("answer", subproblem="Q2", value=truth["Q2"]),
                _call("answer", "c2", subproblem="Q1", value=0),
            ),
        }
    )
    assert sorted(step.observations) == env.agents
    assert step.observations["agent_2"].data["tool_results"] == []
    assert step.observations["agent_1"].data["answered"] == {"Q1": "agent_3", "Q2": "agent_3"}
    assert len(step.observations["agent_3"].data["tool_results"]) == 2
    assert env.score().value == 0.25  # agent_3 acted after agent_1: its Q1 answer counts
    step = await env.step(
        {
            "agent_2": _act(
                *[_call("answer", n, subproblem=n, value=truth[n]) for n in ("Q1", "Q3", "Q4")]
            )
        }
    )
    assert step.terminated and step.rewards == {a: 1.0 for a in env.agents}


# -- the checker --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"depth": 1, "horizon": 4, "breadth": 1, "parallel": 1},
        {"depth": 5, "horizon": 3, "breadth": 6, "parallel": 2, "robustness": 0.5, "agents": 3},
        {"breadth": 2, "parallel": 2, "agents": 4, "robustness": 1},
    ],
)
async def test_check_env_passes_with_the_baseline(params: dict[str, Any]):
    report = await check_env("mas.controlled", params=params, seed=1)
    assert report.score.success
    assert report.steps == parse_task_id(report.task).horizon + 1
