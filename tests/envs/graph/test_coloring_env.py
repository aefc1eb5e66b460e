"""graph.coloring: registration, tasks, message routing, answers, scoring, scale."""

from __future__ import annotations

import json
import time

import networkx as nx
import pytest

from palaestra.core import Action, UserError
from palaestra.envs import check_env, get_spec, make
from palaestra.envs.graph import ColoringEnv, ColoringParams
from palaestra.envs.graph._base import parse_text_messages


def greedy_colouring(env: ColoringEnv) -> dict[str, int]:
    """A proper colouring (centralised), colours 1-based."""
    colouring = nx.greedy_color(env.graph.to_networkx(), strategy="largest_first")
    return {agent: colour + 1 for agent, colour in colouring.items()}


async def talk_through(env: ColoringEnv, obs) -> dict:
    """Play the message rounds with silent agents; return the answer-phase observations."""
    for _ in range(env.rounds):
        step = await env.step({agent: Action() for agent in obs})
        obs = step.observations
    return obs


def test_registered_with_params_and_baseline():
    spec = get_spec("graph.coloring")
    assert spec.baseline is not None
    assert {p["name"] for p in spec.describe_params()} >= {"family", "n", "rounds", "num_tasks"}
    env = spec.make()
    assert isinstance(env, ColoringEnv) and env.params == ColoringParams()
    with pytest.raises(UserError, match="n: "):
        make("graph.coloring", n=3)
    with pytest.raises(UserError, match="family"):
        make("graph.coloring", family="grid")


def test_tasks_are_graph_ids_and_reset_builds_them():
    env = make("graph.coloring", family="ba", n=12, num_tasks=3)
    assert env.tasks() == ["ba-12-0", "ba-12-1", "ba-12-2"]
    assert env.agents == ["Michael", "Jennifer", "David", "Jessica"] + env.agents[4:]
    assert len(env.agents) == 12  # known before reset, the same for every task


async def test_reset_defaults_to_first_task_and_rejects_bad_ids():
    env = make("graph.coloring", family="ba", n=12)
    obs = await env.reset(0)
    assert set(obs) == set(env.agents) and len(env.agents) == 12
    assert env.graph.family == "ba" and env.graph.seed == 0
    await env.reset(0, "delaunay-6-4")  # any well-formed id names a graph
    assert env.graph.n == 6 and len(env.agents) == 6
    for bad in ["ws-8", "cube-8-0", "ws-2-0", "ws-8-x"]:
        with pytest.raises(UserError, match="FAMILY-NODES-SEED|expected 4 to 1000"):
            await env.reset(0, bad)


async def test_first_observation_is_self_contained():
    env = make("graph.coloring")
    obs = await env.reset(0, "ws-8-1")
    agent = env.agents[3]
    o = obs[agent]
    neighbours = env.graph.neighbors[agent]
    k = env.graph.max_degree + 1
    assert o.data == {
        "agent": agent,
        "num_agents": 8,
        "neighbors": list(neighbours),
        "phase": "message",
        "round": 1,
        "rounds": 4,
        "inbox": {},
        "inbox_round": 0,
        "colors": list(range(1, k + 1)),
    }
    text = o.text
    assert f"You are {agent}, one of 8 agents" in text
    assert ", ".join(neighbours) in text
    assert f"a whole number from 1 to {k}" in text
    assert "message round 1 of 4" in text
    assert f"{neighbours[0]}: <your message to {neighbours[0]}>" in text
    assert "ALL: <message>" in text


async def test_messages_reach_neighbours_next_round_only():
    env = make("graph.coloring", n=12)
    obs = await env.reset(0)
    sender = env.agents[0]
    neighbours = env.graph.neighbors[sender]
    stranger = next(a for a in env.agents if a not in neighbours and a != sender)
    actions = {a: Action() for a in obs}
    actions[sender] = Action(
        data={"messages": {neighbours[0]: "hello", neighbours[1]: 7, stranger: "psst"}}
    )
    step = await env.step(actions)
    assert step.info["messages_delivered"] == 2 and step.info["messages_dropped"] == 1
    first = step.observations[neighbours[0]]
    assert first.data["inbox"] == {sender: "hello"} and first.data["round"] == 2
    assert "Messages you received in round 1:\n" in first.text
    assert f"- {sender}: hello" in first.text
    assert step.observations[neighbours[1]].data["inbox"] == {sender: "7"}
    assert sender not in step.observations[stranger].data["inbox"]
    # silent neighbours are listed as such
    assert "(no message)" in first.text
    # messages do not persist into the round after
    step = await env.step({a: Action() for a in step.observations})
    assert step.observations[neighbours[0]].data["inbox"] == {}


async def test_text_messages_are_routed_like_data():
    env = make("graph.coloring", n=12)
    obs = await env.reset(0)
    sender = env.agents[0]
    a, b, *_ = env.graph.neighbors[sender]
    actions = {x: Action() for x in obs}
    actions[sender] = Action(text=f"Let me think.\n**{a.upper()}:** take 2\nplease\nALL: I take 1")
    step = await env.step(actions)
    assert step.observations[a].data["inbox"][sender] == "take 2\nplease\nI take 1"
    assert step.observations[b].data["inbox"][sender] == "I take 1"


def test_parse_text_messages_rules():
    nbs = ("Bob", "Carol")
    assert parse_text_messages("I pick 3", nbs) == {"Bob": "I pick 3", "Carol": "I pick 3"}
    assert parse_text_messages("  ", nbs) == {}
    assert parse_text_messages("Bob: hi\nDave: not a neighbour\ncarol: yo", nbs) == {
        "Bob": "hi\nDave: not a neighbour",
        "Carol": "yo",
    }
    assert parse_text_messages("Bob:\nCarol: x", nbs) == {"Carol": "x"}
    assert parse_text_messages("- Bob: a\nBob: b", nbs) == {"Bob": "a\nb"}


async def test_default_rounds_follow_agentsnet():
    small = make("graph.coloring", n=16)
    await small.reset(0)
    assert small.rounds == 4
    big = make("graph.coloring", family="delaunay", n=17)
    await big.reset(0)
    assert big.rounds == 2 * nx.diameter(big.graph.to_networkx()) + 1
    fixed = make("graph.coloring", n=40, rounds=3)
    await fixed.reset(0)
    assert fixed.rounds == 3


async def test_proper_colouring_scores_one_after_rounds_plus_one_steps():
    env = make("graph.coloring", family="ba", n=10, rounds=2)
    obs = await env.reset(0)
    answers = greedy_colouring(env)
    steps = 0
    for _ in range(2):
        step = await env.step({a: Action() for a in obs})
        obs, steps = step.observations, steps + 1
        assert not step.terminated and all(r == 0.0 for r in step.rewards.values())
    assert {o.data["phase"] for o in obs.values()} == {"answer"}
    some = next(iter(obs.values()))
    assert "All 2 message rounds are over." in some.text and "ANSWER: <your colour>" in some.text
    step = await env.step({a: Action(data={"answer": answers[a]}) for a in obs})
    assert step.terminated and not step.truncated and step.observations == {}
    score = env.score()
    assert score.value == 1.0 and score.success
    assert score.metrics == {
        "valid_fraction": 1.0,
        "edge_fraction": 1.0,
        "conflicts": 0.0,
        "num_colors": float(env.graph.max_degree + 1),
        "rounds": 2.0,
    }
    assert step.rewards == {a: 1.0 for a in env.agents}
    assert step.info["metrics"] == score.metrics and step.info["score"] == 1.0
    json.dumps(step.info)
    with pytest.raises(RuntimeError):
        await env.step({})


async def test_one_conflicting_edge_costs_its_share():
    env = make("graph.coloring", family="ws", n=12, rounds=1)
    obs = await talk_through(env, await env.reset(0))
    answers = greedy_colouring(env)
    a, b = env.graph.edges[0]
    answers[b] = answers[a]  # may also clash with b's other neighbours
    clashes = sum(answers[x] == answers[y] for x, y in env.graph.edges)
    step = await env.step({x: Action(text=f"ANSWER: {answers[x]}") for x in obs})
    score = env.score()
    assert step.terminated and not score.success
    assert score.value == pytest.approx(1 - clashes / len(env.graph.edges))
    assert score.metrics["conflicts"] == clashes


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I'll take 2.\nANSWER: 2", 2),
        ("**ANSWER:** 3", 3),
        ("answer: Group 1", 1),
        ("ANSWER: 1\nwait, no\nANSWER: 2", 2),
    ],
)
async def test_text_answers_are_read_leniently(text, expected):
    env = make("graph.coloring", n=8, rounds=1)
    obs = await talk_through(env, await env.reset(0))
    me = env.agents[0]
    answers = greedy_colouring(env)
    actions = {a: Action(data={"answer": answers[a]}) for a in obs}
    actions[me] = Action(text=text)
    step = await env.step(actions)
    assert step.terminated and me not in step.info["answers_invalid"]
    assert env.score().metrics["valid_fraction"] == 1.0


async def test_invalid_answers_are_reasked_once_then_count_as_invalid():
    env = make("graph.coloring", n=8, rounds=1)
    obs = await talk_through(env, await env.reset(0))
    answers = greedy_colouring(env)
    k = env.graph.max_degree + 1
    bad = {env.agents[0]: Action(text="I pick blue"), env.agents[1]: Action(data={"answer": k + 1})}
    actions = {a: bad.get(a, Action(data={"answer": answers[a]})) for a in obs}
    step = await env.step(actions)
    assert not step.terminated
    assert set(step.observations) == set(bad) == set(step.info["answers_invalid"])
    first = step.observations[env.agents[0]]
    assert first.data["phase"] == "reanswer"
    assert "no line of the form 'ANSWER: <answer>'" in first.data["error"]
    assert "last chance" in first.text and first.data["error"] in first.text
    assert f"is not between 1 and {k}" in step.observations[env.agents[1]].data["error"]
    assert env.score().value == 0.0 and env.score().metrics["valid_fraction"] == 6 / 8
    # one fixes its answer, the other stays invalid: the episode ends anyway, scoring 0
    step = await env.step(
        {env.agents[0]: Action(text=f"ANSWER: {answers[env.agents[0]]}"), env.agents[1]: Action()}
    )
    assert step.terminated and step.observations == {}
    score = env.score()
    assert score.value == 0.0 and not score.success
    assert score.metrics["valid_fraction"] == 7 / 8
    assert "1 of 8 agents gave no valid colour" in score.explanation


async def test_reasked_agents_can_recover_fully():
    env = make("graph.coloring", n=8, rounds=1)
    obs = await talk_through(env, await env.reset(0))
    answers = greedy_colouring(env)
    me = env.agents[2]
    actions = {a: Action(data={"answer": answers[a]}) for a in obs}
    actions[me] = Action(data={"answer": True})
    step = await env.step(actions)
    assert list(step.observations) == [me]
    step = await env.step({me: Action(data={"answer": str(answers[me])})})
    assert step.terminated and env.score().success


async def test_actions_from_agents_not_asked_are_refused():
    env = make("graph.coloring", n=8, rounds=1)
    obs = await talk_through(env, await env.reset(0))
    actions = {a: Action(data={"answer": 1}) for a in obs}
    actions[env.agents[0]] = Action(data={"answer": 99})
    step = await env.step(actions)
    assert list(step.observations) == [env.agents[0]]
    with pytest.raises(ValueError, match="not asked to act"):
        await env.step({env.agents[1]: Action(data={"answer": 1})})


async def test_thousand_agents_build_and_step_quickly():
    env = make("graph.coloring", family="delaunay", n=1000)
    start = time.perf_counter()
    obs = await env.reset(0)
    step = await env.step({a: Action(text="ALL: I propose colour 1") for a in obs})
    elapsed = time.perf_counter() - start
    assert len(step.observations) == 1000
    assert step.info["messages_delivered"] == 2 * len(env.graph.edges)
    assert elapsed < 5.0, f"reset + one step of 1,000 agents took {elapsed:.2f}s"


@pytest.mark.parametrize("family", ["ws", "ba", "delaunay"])
async def test_check_env_passes(family):
    report = await check_env("graph.coloring", params={"family": family, "n": 20})
    assert report.score.success
    assert report.steps == 2 * make_graph_diameter(family, 20) + 2


def make_graph_diameter(family: str, n: int) -> int:
    from palaestra.envs.graph import make_graph

    return make_graph(family, n, 0).diameter
