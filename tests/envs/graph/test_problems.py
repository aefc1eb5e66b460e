"""What the four AgentsNet problems added to graph.coloring share: registration, rounds,
prompts, tolerant answers, the one re-ask, and the contract checker."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from palaestra.core import Action, UserError
from palaestra.envs import check_env, get_spec, make
from palaestra.envs.graph import (
    ConsensusEnv,
    LeaderElectionEnv,
    MatchingEnv,
    MessagePassingEnv,
    VertexCoverEnv,
)

CLASSES = {
    "graph.leader_election": LeaderElectionEnv,
    "graph.matching": MatchingEnv,
    "graph.vertex_cover": VertexCoverEnv,
    "graph.consensus": ConsensusEnv,
}
PROBLEMS = sorted(CLASSES)
WHOLE_GRAPH = ["graph.consensus", "graph.leader_election"]
"""Problems that always get 2 * diameter + 1 rounds by default."""


async def talk_through(env: MessagePassingEnv, obs: dict) -> dict:
    """Play the message rounds with silent agents; return the answer observations."""
    for _ in range(env.rounds):
        obs = (await env.step({agent: Action() for agent in obs})).observations
    return obs


def valid_answer(env: MessagePassingEnv, agent: str) -> str:
    """Some answer the env accepts for `agent` (not necessarily a good one)."""
    return {
        "graph.leader_election": "No",
        "graph.vertex_cover": "Yes",
        "graph.consensus": "1",
        "graph.matching": "None",
    }[next(k for k, v in CLASSES.items() if isinstance(env, v))]


@pytest.mark.parametrize("env_id", PROBLEMS)
def test_registered_with_params_baseline_and_clear_errors(env_id):
    spec = get_spec(env_id)
    assert spec.baseline is not None and spec.description.startswith("AgentsNet")
    params = {p["name"]: p for p in spec.describe_params()}
    assert set(params) == {"family", "n", "rounds", "num_tasks"}
    if env_id in WHOLE_GRAPH:
        assert "2*diameter+1 at every size" in params["rounds"]["description"]
    assert isinstance(spec.make(), CLASSES[env_id])
    with pytest.raises(UserError, match=r"n: Input should be greater than or equal to 4"):
        make(env_id, family="delaunay", n=3)
    with pytest.raises(UserError, match=r"family: .*'ws', 'ba' or 'delaunay'"):
        make(env_id, family="grid")
    with pytest.raises(UserError, match=r"colors: Extra inputs.*Valid parameters: family, n"):
        make(env_id, colors=3)


@pytest.mark.parametrize("env_id", PROBLEMS)
@pytest.mark.parametrize("n", [8, 16, 20])
async def test_default_rounds_follow_agentsnet(env_id, n):
    env = make(env_id, family="delaunay", n=n)
    await env.reset(0)
    diameter_rounds = 2 * nx.diameter(env.graph.to_networkx()) + 1
    small = n <= 16 and env_id not in WHOLE_GRAPH
    assert env.rounds == (4 if small else diameter_rounds)
    fixed = make(env_id, family="delaunay", n=n, rounds=2)
    await fixed.reset(0)
    assert fixed.rounds == 2


@pytest.mark.parametrize("env_id", PROBLEMS)
async def test_prompt_and_data_say_what_to_answer(env_id):
    env = make(env_id, n=8, rounds=1)
    first = await env.reset(0, "ba-8-2")
    agent = env.agents[2]
    obs = (await talk_through(env, first))[agent]
    assert obs.data["phase"] == "answer" and obs.data["choices"]
    assert "Give your final answer now:" in obs.text and "ANSWER: <" in obs.text
    if env_id == "graph.matching":
        neighbours = env.graph.neighbors[agent]
        assert obs.data["choices"] == [*neighbours, "None"]
        assert f"one of: {', '.join(neighbours)}, None" in obs.text
    elif env_id == "graph.consensus":
        assert obs.data["value"] in (0, 1) and obs.data["choices"] == [0, 1]
        assert f"your private starting value is {obs.data['value']}" in first[agent].text
    else:
        assert obs.data["choices"] == ["Yes", "No"] and "ANSWER: <Yes or No>" in obs.text


@pytest.mark.parametrize("env_id", PROBLEMS)
async def test_invalid_answers_are_reasked_once_then_count_as_invalid(env_id):
    env = make(env_id, n=8, rounds=1)
    await talk_through(env, await env.reset(0))
    first, second, *rest = env.agents
    actions = {a: Action(text=f"ANSWER: {valid_answer(env, a)}") for a in rest}
    actions[first] = Action(text="I have no idea")
    actions[second] = Action(text="ANSWER: Yes or No or 0 or 1 or maybe")
    step = await env.step(actions)
    assert not step.terminated and set(step.observations) == {first, second}
    assert step.info["answers_invalid"] == [first, second]
    again = step.observations[second]
    assert again.data["phase"] == "reanswer" and again.data["error"]
    assert "Your previous reply had no valid answer" in again.text
    assert "last chance" in again.text
    step = await env.step(
        {first: Action(text=f"ANSWER: {valid_answer(env, first)}"), second: Action(text="?")}
    )
    assert step.terminated and step.info["answers_invalid"] == [second]
    score = env.score()
    assert score.metrics["valid_fraction"] == pytest.approx(7 / 8)
    assert not score.success
    json.dumps(step.info)


@pytest.mark.parametrize("env_id", PROBLEMS)
async def test_scores_are_zero_before_any_answer(env_id):
    env = make(env_id, n=8)
    obs = await env.reset(0)
    step = await env.step({a: Action() for a in obs})
    assert step.info["metrics"]["valid_fraction"] == 0.0
    assert env.score().value == 0.0 and not env.score().success
    assert env.score().explanation == "no valid answers yet"


@pytest.mark.parametrize("env_id", PROBLEMS)
@pytest.mark.parametrize("family", ["ws", "ba", "delaunay"])
async def test_check_env_passes_with_the_baseline(env_id, family):
    report = await check_env(env_id, params={"family": family, "n": 12}, seed=1)
    assert report.score.metrics["valid_fraction"] == 1.0
    assert report.steps == report.score.metrics["rounds"] + 1
