"""`to_gymnasium`: passes Gymnasium's own ``check_env`` (warnings as errors) on a real
single-agent environment, plays it faithfully, and refuses multi-agent ones."""

from __future__ import annotations

import asyncio
import json

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env

from palaestra.core import Action, Observation, ToolCall, UserError
from palaestra.envs import get_spec
from palaestra.envs.interop import register_gymnasium, to_action, to_gymnasium, to_pettingzoo
from palaestra.runtime import AgentContext, EpisodeRecorder


def test_check_env_passes_on_tooluse_store():
    env = to_gymnasium("tooluse.store", params={"num_tasks": 5})
    # no gymnasium spec for a bare instance: the render-mode check needs one (next test)
    gymnasium_check_env(env, skip_render_check=True)
    env.close()


def test_check_env_passes_in_full_through_gymnasium_make():
    gym_id = register_gymnasium("tooluse.store", gym_id="palaestra-test/store-v0")
    try:
        env = gymnasium.make(gym_id, params={"num_tasks": 3}).unwrapped
        gymnasium_check_env(env)  # render and close checks included
        assert env.spec is not None and env.spec.id == gym_id
        env.close()
    finally:
        gymnasium.registry.pop(gym_id, None)


def test_the_baseline_solves_a_task_through_the_adapter():
    spec = get_spec("tooluse.store")
    params = spec.validate({})
    env = to_gymnasium("tooluse.store", task="cancel-000", render_mode="ansi")
    operator = spec.baseline(params, env.agent)
    text, info = env.reset(seed=0)
    assert info["task"] == "cancel-000" and info["acting"] and info["tools"]
    assert env.render() == text and info["data"]["task_id"] == "cancel-000"
    recorder = EpisodeRecorder("gym", run_seed=0)
    for index in range(40):
        observation = Observation(text=text, data=info["data"], tools=info["tools"])
        action = asyncio.run(operator.act(observation, AgentContext(recorder, "agent", index, 0)))
        # the policy's side of Gymnasium speaks text: send the action as JSON
        text, reward, terminated, truncated, info = env.step(action.model_dump_json())
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert reward == 1.0 and info["score"]["value"] == 1.0 and info["score"]["success"]
    with pytest.raises(UserError, match="call reset"):
        env.step("more")
    env.close()


def test_seeded_resets_repeat_and_draw_tasks():
    env = to_gymnasium("tooluse.store")
    first = env.reset(seed=11)
    second = env.reset(seed=11)
    assert first == second
    tasks = {env.reset(seed=s)[1]["task"] for s in range(12)}
    assert len(tasks) > 1  # an unfixed task is drawn per reset
    assert env.reset(options={"task": "lookup-003"})[1]["task"] == "lookup-003"
    with pytest.raises(UserError, match="unknown keys \\['level'\\]; valid: task"):
        env.reset(options={"level": 3})
    env.close()


def test_multi_agent_envs_are_refused():
    with pytest.raises(UserError, match="single-agent environment.*use to_pettingzoo"):
        to_gymnasium("graph.coloring", params={"n": 4})


def test_actions_from_text():
    call = {"tool_calls": [{"id": "1", "name": "find_user", "arguments": {"email": "a@b"}}]}
    assert to_action(json.dumps(call)).tool_calls == [
        ToolCall(id="1", name="find_user", arguments={"email": "a@b"})
    ]
    assert to_action("hello") == Action(text="hello")
    assert to_action("{not json}") == Action(text="{not json}")
    assert to_action('{"answer": 3}') == Action(text='{"answer": 3}')  # not Action fields
    assert to_action({"data": {"answer": 3}}) == Action(data={"answer": 3})
    with pytest.raises(UserError, match="expected an action as a str"):
        to_action(3)


@pytest.mark.parametrize("adapter", ["gymnasium", "pettingzoo"])
def test_the_last_step_carries_the_episodes_events(adapter: str) -> None:
    # code.python's workspace manifest (and its isolation: none warning) reach a policy
    # driven through the adapters, as the runtime records them in the log
    params = {"num_tasks": 1, "isolation": "none"}
    write = ToolCall(id="w", name="run_python", arguments={"code": "open('n.txt','w').write('hi')"})
    submit = ToolCall(id="s", name="submit", arguments={"code": "def solve(*a):\n    return 0\n"})
    actions = [Action(tool_calls=[call]).model_dump_json() for call in (write, submit)]
    if adapter == "gymnasium":
        env = to_gymnasium("code.python", params=params)
        env.reset(seed=0)
        first = env.step(actions[0])[4]
        *_, terminated, _, info = env.step(actions[1])
    else:
        env = to_pettingzoo("code.python", params=params)
        env.reset(seed=0)
        first = env.step({"agent": actions[0]})[4]["agent"]
        _, _, ended, _, infos = env.step({"agent": actions[1]})
        terminated, info = ended["agent"], infos["agent"]
    assert terminated and "events" not in first
    kinds = [event["kind"] for event in info["events"]]
    assert kinds == ["governance", "workspace"]
    manifest = info["events"][1]
    assert [(f["path"], f["size"]) for f in manifest["files"]] == [("n.txt", 2)]
    assert json.loads(json.dumps(info["events"])) == info["events"]  # plain JSON data
    env.close()
