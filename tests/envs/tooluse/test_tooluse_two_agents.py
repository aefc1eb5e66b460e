"""`user="agent"`: the customer is a second agent, `user`. Its baseline (the scripted
customer as an operator) behaves exactly like the built-in one; an LLM operator makes it
an LLM user simulator, recorded in the log like any agent."""

from __future__ import annotations

import pytest

from palaestra.core import Action, Observation, ToolCall, UserError
from palaestra.envs import check_env, get_spec, make
from palaestra.envs.tooluse import GroundTruthOperator, ScriptedUserOperator, ToolUseEnv
from palaestra.envs.tooluse._user import GREETING, STOP, user_prompt
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.runtime import AgentContext, EpisodeRecorder, run
from palaestra.store import Store


def _env(env_id: str = "tooluse.store", **params: object) -> ToolUseEnv:
    env = make(env_id, user="agent", **params)
    assert isinstance(env, ToolUseEnv)
    return env


async def test_the_user_opens_and_the_agent_sees_what_the_scripted_mode_shows() -> None:
    env = _env()
    scripted = make("tooluse.store")
    task = env.task(env.tasks()[1])
    assert env.agents == ["agent", "user"] and scripted.agents == ["agent"]
    first = await env.reset(0, task.id)
    assert list(first) == ["user"]
    seen = first["user"]
    assert [(m.role, m.content) for m in seen.messages] == [
        ("system", user_prompt(task.instruction)),
        ("user", GREETING),
    ]
    assert task.instruction in seen.text and STOP in seen.text and seen.tools == []
    assert seen.data == {
        "task_id": task.id, "instruction": task.instruction, "user_turn": 0,
        "agent_message": GREETING, "agent_has_acted": False,
    }  # fmt: skip
    with pytest.raises(UserError, match="for 'user' \\(whose turn it is\\)"):
        await env.step({"agent": Action(text="hello")})
    step = await env.step({"user": Action(text=task.instruction)})
    assert not step.terminated and list(step.observations) == ["agent"]
    assert step.rewards == {"agent": 0.0}
    expected = (await scripted.reset(0, task.id))["agent"]
    assert step.observations["agent"] == expected


async def test_turns_alternate_and_stop_ends_the_episode() -> None:
    env = _env()
    task = env.task(env.tasks()[0])
    await env.reset(0, task.id)
    await env.step({"user": Action(text="Hi, please cancel my order.")})
    call = ToolCall(id="c1", name="get_order_details", arguments={"order_id": "#W0"})
    step = await env.step({"agent": Action(tool_calls=[call])})
    assert list(step.observations) == ["agent"] and step.info["source"] == "tool"
    step = await env.step({"agent": Action(text="Which order?")})
    assert list(step.observations) == ["user"] and step.info == {"source": "agent", "to": "user"}
    user = step.observations["user"]
    assert [(m.role, m.content) for m in user.messages] == [("user", "Which order?")]
    assert user.data["agent_message"] == "Which order?" and user.data["agent_has_acted"]
    assert user.data["user_turn"] == 1
    step = await env.step({"user": Action(text="Never mind. " + STOP)})
    assert step.terminated and step.info == {"source": "user", "user_stopped": True}
    assert step.observations["agent"].messages[0].content == "Never mind. " + STOP
    assert step.rewards == {"agent": 0.0} and env.score().metrics["db_match"] == 0.0
    with pytest.raises(UserError, match="call reset"):
        await env.step({"user": Action(text="hello?")})


async def test_a_user_who_never_stops_is_cut_by_max_turns() -> None:
    env = _env(max_turns=2)
    await env.reset(0, env.tasks()[0])
    await env.step({"user": Action(text="Help me.")})
    step = await env.step({"agent": Action(text="With what?")})
    step = await env.step({"user": Action(text="Guess.")})
    step = await env.step({"agent": Action(text="No idea.")})
    assert step.truncated and not step.terminated and list(step.observations) == ["user"]


@pytest.mark.parametrize("env_id", ["tooluse.store", "tooluse.airline"])
async def test_ground_truth_with_the_baseline_user_scores_one(env_id: str) -> None:
    env = _env(env_id, num_tasks=22)
    for task_id in env.tasks():
        report = await check_env(env, task=task_id)
        assert report.score.value == 1.0, (task_id, report.score.explanation)
        assert report.agents == ["agent", "user"]


class _AgentSide:
    """Plays fixed agent actions and records what the agent sees."""

    def __init__(self, actions: list[Action]) -> None:
        self.actions = actions
        self.seen: list[Observation] = []

    async def act(self, observation: Observation, ctx: object) -> Action:
        self.seen.append(observation)
        return self.actions[min(len(self.seen) - 1, len(self.actions) - 1)]


async def _agent_view(user_mode: str, actions: list[Action], task_id: str) -> tuple:
    env = make("tooluse.store", user=user_mode)
    agent, user = _AgentSide(actions), ScriptedUserOperator()
    recorder = EpisodeRecorder("ep", run_seed=0)
    observations = await env.reset(0, task_id)
    for index in range(40):
        (name, observation), = observations.items()  # fmt: skip
        ctx = AgentContext(recorder, name, index, 0)
        operator = agent if name == "agent" else user
        step = await env.step({name: await operator.act(observation, ctx)})
        observations = step.observations
        if step.terminated or step.truncated:
            break
    return [o.model_dump() for o in agent.seen], observations["agent"].text, env.score()


@pytest.mark.parametrize(
    "actions",
    [
        [Action(text="Hello."), Action(text="Could you confirm your email?"), Action(text="Hm.")],
        [Action(tool_calls=[ToolCall(id="a", name="get_user_details",
                                     arguments={"user_id": "x"})]),
         Action(text="Anything else?")],
    ],
)  # fmt: skip
async def test_the_baseline_user_answers_exactly_like_the_scripted_mode(actions) -> None:
    scripted = await _agent_view("scripted", actions, "cancel-000")
    agent = await _agent_view("agent", actions, "cancel-000")
    assert scripted[0] == agent[0] and scripted[1] == agent[1]
    assert STOP in agent[1]
    assert scripted[2] == agent[2]


async def test_baseline_operators_by_agent_and_their_errors() -> None:
    spec = get_spec("tooluse.airline")
    params = spec.validate({"user": "agent"})
    assert isinstance(spec.baseline(params, "agent"), GroundTruthOperator)
    assert isinstance(spec.baseline(params, "user"), ScriptedUserOperator)
    with pytest.raises(UserError, match="no agent 'bob'"):
        spec.baseline(params, "bob")
    with pytest.raises(UserError, match="instruction"):
        await ScriptedUserOperator().act(Observation(text="hi"), ctx=None)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="user: Input should be 'scripted' or 'agent'"):
        make("tooluse.store", user="llm")


def _experiment(user_operator: dict) -> dict:
    return {
        "name": "two-agents",
        "jobs": [
            {"env": "tooluse.airline", "label": "air", "params": {"user": "agent"},
             "tasks": 3, "epochs": 2},
            {"env": "tooluse.store", "label": "shop", "params": {"user": "agent"}, "tasks": 2,
             "agents": {"user": user_operator}},
        ],
    }  # fmt: skip


def _user_events(store: Store, run_id: str, episode_id: str) -> dict[str, list]:
    events = store.events(run_id, episode_id)
    kinds: dict[str, list] = {}
    for event in events:
        if event.agent == "user":
            kinds.setdefault(event.kind, []).append(event.payload)
    return kinds


def test_runtime_runs_the_baseline_user(tmp_path) -> None:
    result = run(_experiment({"kind": "baseline"}), store=tmp_path / "runs.db")
    assert result.errors == 0 and result.success_rate == 1.0 and len(result.episodes) == 8
    with Store(tmp_path / "runs.db") as store:
        row = result.episodes[0]
        user = _user_events(store, result.run_id, row.episode_id)
        texts = [p.action.text for p in user["action"]]
        assert len(user["observation"]) == len(texts) == 2
        assert texts[-1].endswith(STOP) and STOP not in texts[0]
        start = store.events(result.run_id, row.episode_id)[0].payload
        assert start.agents == ["agent", "user"]
        assert start.operators == {"agent": "ground-truth", "user": "scripted-user"}


def test_runtime_runs_an_llm_user(tmp_path) -> None:
    def customer(request: ModelRequest) -> str:
        """Opens with the request found in its prompt; stops once the agent has replied."""
        if request.messages[-1].content == GREETING:
            prompt = request.messages[1].content or ""
            return prompt.split("# Your situation and request\n\n")[1].split("\n\n# Rules")[0]
        return f"Great, thanks! {STOP}"

    model = ScriptedModel(fn=customer, name="customer")
    llm = {"kind": "llm", "model": "default", "system_prompt": "Play the customer."}
    result = run(_experiment(llm), store=tmp_path / "runs.db", models={"default": model})
    assert result.errors == 0 and result.success_rate == 1.0
    shop = [row for row in result.episodes if row.episode_id.startswith("shop/")]
    assert len(shop) == 2
    with Store(tmp_path / "runs.db") as store:
        for row in shop:
            user = _user_events(store, result.run_id, row.episode_id)
            assert len(user["model_request"]) == len(user["model_response"]) == 2
            first = user["model_request"][0].messages
            assert [m.role for m in first] == ["system", "system", "user"]
            assert first[0].content == "Play the customer." and first[2].content == GREETING
            later = user["model_request"][1].messages
            assert later[-1].role == "user" and later[-1].content.startswith(
                ("Your request has been", "Here is what")
            )
            opening = user["action"][0].action.text
            events = store.events(result.run_id, row.episode_id)
            agent_first = next(e for e in events if e.agent == "agent" and e.kind == "observation")
            assert agent_first.payload.observation.data["user_message"] == opening
            assert opening.startswith("Hi, ")
            assert user["action"][-1].action.text.endswith(STOP)
            last_step = [e for e in events if e.kind == "env_step"][-1].payload
            assert last_step.terminated and last_step.info == {
                "source": "user", "user_stopped": True
            }  # fmt: skip
