"""Coordination metrics: exact values on hand-built logs (per-agent counts, turns of
internal agents, outputs, parallel groups, redundancy, overhead, efficiency, error
amplification and propagation), and the same metrics on a real recorded run."""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaestra.core import (
    Action,
    ActionEvent,
    Context,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    MemoryRead,
    MemoryWrite,
    Message,
    MessageEvent,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    Payload,
    ScoreEvent,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    UserError,
    make_event,
)
from palaestra.eval import (
    AgentStats,
    coordination_summary,
    efficiency,
    episode_measures,
    error_amplification,
    error_propagation,
    overhead,
    redundancy,
    run_measures,
)
from palaestra.eval._coordination import jaccard
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.runtime import run
from palaestra.store import Store
from palaestra.systems import consult, reply
from tests.runtime.toy_env import register_counter


def test_coordination_api_is_exported():
    import palaestra.eval as ev

    mine = {
        "AgentStats", "Amplification", "CoordinationSummary", "EpisodeMeasures", "Overhead",
        "ParallelGroup", "Propagation", "Ratio", "SubResult", "coordination_summary",
        "efficiency", "episode_measures", "error_amplification", "error_propagation",
        "overhead", "redundancy", "run_measures",
    }  # fmt: skip
    assert mine <= set(ev.__all__)
    assert all(hasattr(ev, name) for name in mine)


class _Log:
    """Builds one episode's events: `add` returns the new event's seq."""

    def __init__(self, *, task: str = "t1", seed: int = 0, job: str = "job") -> None:
        self.episode_id = f"{job}/{task}/{seed}/0"
        self.events: list[Event] = []
        self.add("env", EpisodeStart(env="toy", task=task, seed=seed, agents=["a"]))

    def add(self, agent: str, payload: Payload, parent: int | None = None, step: int = 0) -> int:
        seq = len(self.events)
        self.events.append(make_event(self.episode_id, seq, step, agent, payload, parent=parent))
        return seq

    def call(self, agent: str, parent: int, text: str | None, usage: tuple[int, int]) -> int:
        request = self.add(agent, ModelRequestEvent(model="m", messages=[]), parent)
        message = Message(role="assistant", content=text)
        if text is None:
            message = Message(
                role="assistant", tool_calls=[ToolCall(id="c", name="lookup", arguments={"x": 1})]
            )
        response = ModelResponseEvent(message=message, usage=Usage(input_tokens=usage[0],
                                      output_tokens=usage[1]))  # fmt: skip
        return self.add(agent, response, request)

    def say(self, sender: str, to: str, text: str, parent: int, round: int | None = None) -> int:
        return self.add(sender, MessageEvent(sender=sender, recipients=[to], content=text,
                                             round=round), parent)  # fmt: skip

    def end(self, success: bool, step: int = 0) -> list[Event]:
        self.add("env", EnvStep(terminated=True), step=step)
        self.add("env", ScoreEvent(value=float(success), success=success), step=step)
        outcome = "success" if success else "failure"
        self.add("env", EpisodeEnd(outcome=outcome, reason="done", steps=step + 1), step=step)
        return self.events


def _independent_log() -> list[Event]:
    """a consults w1, w2, w3 in parallel; w2 replies; w3 uses a tool and the memory."""
    log = _Log()
    turn = log.add("a", ObservationEvent(observation=Observation(text="solve")))
    m1 = log.say("a", "a/w1", "solve", turn)
    log.call("a/w1", m1, "the answer is 42", (10, 2))
    m2 = log.say("a", "a/w2", "solve", turn)
    log.call("a/w2", m2, "answer 42", (10, 3))
    log.say("a/w2", "a", "answer 42 indeed", m2)
    m3 = log.say("a", "a/w3", "solve", turn)
    response = log.call("a/w3", m3, None, (10, 1))
    call = log.add("a/w3", ToolCallEvent(call=ToolCall(id="c", name="lookup")), response)
    log.add("a/w3", ToolResultEvent(call_id="c", name="lookup", content="41"), call)
    log.call("a/w3", m3, "41", (12, 2))
    log.add("a/w3", MemoryRead(key="k", value=1, hit=True, matched_key="k", writer="a/w1"), m3)
    log.add("a/w3", MemoryWrite(key="k", value=2, admitted=False, reason="first wins"), m3)
    log.add("a", ActionEvent(action=Action(text="42")), turn)
    return log.end(success=True)


def test_per_agent_counts_turns_and_tokens_of_a_hand_built_log():
    m = episode_measures(_independent_log())
    assert (m.episode_id, m.job, m.key, m.success, m.outcome) == (
        "job/t1/0/0", "job", ("toy", "t1", 0, 0), True, "success",
    )  # fmt: skip
    assert list(m.agents) == ["a", "a/w1", "a/w2", "a/w3"]
    assert m.agents["a"] == AgentStats("a", messages_sent=3, messages_received=1, turns=1)
    assert m.agents["a/w1"] == AgentStats(
        "a/w1", messages_received=1, turns=1, model_calls=1, input_tokens=10, output_tokens=2
    )
    assert m.agents["a/w2"] == AgentStats(
        "a/w2", messages_sent=1, messages_received=1, turns=1, model_calls=1,
        input_tokens=10, output_tokens=3,
    )  # fmt: skip
    assert m.agents["a/w3"] == AgentStats(
        "a/w3", messages_received=1, turns=1, model_calls=2, input_tokens=22, output_tokens=3,
        tool_calls=1, memory_reads=1, memory_hits=1, memory_writes=1, memory_rejected=1,
    )  # fmt: skip
    assert (m.messages, m.tokens, m.model_calls, m.turns) == (4, 50, 4, 4)


def test_outputs_and_redundancy_of_parallel_workers():
    m = episode_measures(_independent_log())
    # w2's reply beats its model response; w3's last response is its output
    assert [(s.agent, s.text) for s in m.sub_results] == [
        ("a/w1", "the answer is 42"),
        ("a/w2", "answer 42 indeed"),
        ("a/w3", "41"),
    ]
    (group,) = m.parallel_groups
    assert (group.step, group.sender, group.round) == (0, "a", None)
    # {the, answer, is, 42} vs {answer, 42, indeed}: 2/5; 41 shares nothing with either
    assert group.similarity == pytest.approx((0.4 + 0 + 0) / 3)
    assert redundancy([m]) == pytest.approx(0.4 / 3)


def _nested_log(success: bool = False) -> list[Event]:
    """a consults a/team, which runs two rounds between its peers x and y."""
    log = _Log(task="t2")
    turn = log.add("a", ObservationEvent(observation=Observation(text="colour")))
    team = log.say("a", "a/team", "colour the node", turn)
    x1 = log.say("a/team", "a/team/x", "round 1", team, round=1)
    log.call("a/team/x", x1, "red blue", (5, 2))
    y1 = log.say("a/team", "a/team/y", "round 1", team, round=1)
    log.call("a/team/y", y1, "red green", (5, 2))
    log.say("a/team/x", "a/team/y", "red blue", x1, round=1)  # x tells y
    x2 = log.say("a/team", "a/team/x", "round 2", team, round=2)
    log.call("a/team/x", x2, "red", (7, 1))
    y2 = log.say("a/team", "a/team/y", "round 2", team, round=2)
    log.call("a/team/y", y2, "red", (7, 1))
    log.say("a/team", "a", "red", team)
    log.add("a", ActionEvent(action=Action(text="red")), turn)
    return log.end(success=success)


def test_nested_systems_turns_rounds_and_outputs():
    m = episode_measures(_nested_log())
    stats = m.agents
    assert (stats["a/team"].turns, stats["a/team"].messages_sent) == (1, 5)
    assert (stats["a/team/x"].turns, stats["a/team/x"].messages_received) == (2, 2)
    assert (stats["a/team/y"].turns, stats["a/team/y"].messages_received) == (2, 3)
    assert stats["a/team"].model_calls == 0 and stats["a/team/x"].tokens == 15
    outputs = [(s.agent, s.opened_by, s.text) for s in m.sub_results]
    # the team's consultations of its own members are not its output; its reply is
    assert outputs == [
        ("a/team", 2, "red"),
        ("a/team/x", 3, "red blue"),
        ("a/team/y", 6, "red green"),
        ("a/team/x", 10, "red"),
        ("a/team/y", 13, "red"),
    ]
    groups = m.parallel_groups
    assert [(g.sender, g.round) for g in groups] == [("a/team", 1), ("a/team", 2)]
    assert [g.similarity for g in groups] == [pytest.approx(1 / 3), 1.0]
    assert redundancy([m]) == pytest.approx((1 / 3 + 1) / 2)
    assert m.success is False and m.outcome == "failure"


def _costed(task: str, tokens: int, calls: int, success: bool, job: str) -> list[Event]:
    log = _Log(task=task, job=job)
    turn = log.add("a", ObservationEvent(observation=Observation(text="go")))
    for index in range(calls):
        share = tokens // calls + (tokens % calls if index == 0 else 0)
        log.call("a", turn, "x", (share, 0))
    return log.end(success)


def test_overhead_efficiency_and_amplification_on_paired_episodes():
    system = [
        episode_measures(_costed("t1", 300, 3, True, "sys")),
        episode_measures(_costed("t2", 50, 1, False, "sys")),
        episode_measures(_costed("t3", 50, 1, True, "sys")),  # no single partner
    ]
    single = [
        episode_measures(_costed("t1", 100, 1, False, "one")),
        episode_measures(_costed("t2", 200, 2, False, "one")),
        episode_measures(_costed("t4", 100, 1, True, "one")),  # no system partner
    ]
    cost = overhead(system, single)
    assert (cost.pairs, cost.unpaired) == (2, 2)
    assert cost.tokens.of_sums == pytest.approx(350 / 300)
    assert cost.tokens.mean == pytest.approx((3 + 0.25) / 2)
    assert cost.model_calls.of_sums == pytest.approx(4 / 3)
    assert cost.model_calls.mean == pytest.approx((3 + 0.5) / 2)
    assert cost.turns.of_sums == 1.0
    assert efficiency(system) == pytest.approx(1000 * 2 / 400)
    assert efficiency([episode_measures(_costed("t9", 0, 0, True, "x"))]) is None
    amp = error_amplification(system, single)
    assert (amp.pairs, amp.system_error_rate, amp.single_error_rate) == (2, 0.5, 1.0)
    assert amp.ratio == 0.5
    never_fails = [episode_measures(_costed("t1", 1, 1, True, "one"))]
    assert error_amplification(system, never_fails).ratio is None
    summary = coordination_summary(system)
    assert (summary.episodes, summary.successes, summary.tokens, summary.model_calls) == (
        3, 2, 400, 5,
    )  # fmt: skip
    assert summary.agents["a"].model_calls == 5 and summary.success_rate == pytest.approx(2 / 3)


def test_pairing_errors_name_the_problem():
    one = [episode_measures(_costed("t1", 1, 1, True, "sys"))]
    other = [episode_measures(_costed("t2", 1, 1, True, "one"))]
    with pytest.raises(UserError, match=r"no episode of the system has a single-agent partner"):
        overhead(one, other)
    with pytest.raises(UserError, match=r"two system episodes share .* give one job's episodes"):
        overhead(one + one, other)
    with pytest.raises(UserError, match="from its `episode_start`"):
        episode_measures([])


def test_error_propagation_counts_failures_after_a_wrong_sub_result():
    episodes = [
        episode_measures(_nested_log(success=False)),  # a wrong "blue"/"green" sub-result
        episode_measures(_nested_log(success=True)),
        episode_measures(_independent_log()),  # no wrong sub-result
    ]
    result = error_propagation(episodes, lambda m, sub: "blue" in sub.text)
    assert (result.episodes, result.failed, result.rate) == (2, 1, 0.5)
    assert error_propagation(episodes, lambda m, sub: False).rate is None


@given(st.lists(st.text(alphabet="ab c", max_size=12), min_size=2, max_size=5))
def test_group_similarity_is_the_mean_jaccard_over_pairs(texts):
    log = _Log()
    turn = log.add("a", ObservationEvent(observation=Observation(text="go")))
    for index, text in enumerate(texts):
        opened = log.say("a", f"a/w{index}", "go", turn)
        log.say(f"a/w{index}", "a", text, opened)
    (group,) = episode_measures(log.end(True)).parallel_groups
    words = [set(t.lower().split()) for t in texts]
    exact = [
        Fraction(len(a & b), len(a | b)) if a | b else Fraction(1)
        for a, b in combinations(words, 2)
    ]
    assert group.similarity == pytest.approx(float(sum(exact) / len(exact)))
    assert jaccard(texts[0], texts[0]) == 1.0


# -- a real recorded run ----------------------------------------------------------------


def _worker_reply(request: ModelRequest) -> str:
    said = request.messages[-1].content or ""
    if "Counter is 1" in said:
        return "DONE"
    return "add 1" if request.agent.endswith("w1") else "add one"


class Team:
    """A hand-made system: consults its workers one after the other, records their
    replies, and acts on the first worker's answer."""

    def __init__(self, workers: int) -> None:
        model = ScriptedModel(fn=_worker_reply)
        self.workers = {f"w{i + 1}": LLMOperator(model) for i in range(workers)}

    def fork(self) -> Team:
        clone = Team(0)
        clone.workers = {name: worker.fork() for name, worker in self.workers.items()}
        return clone

    async def act(self, observation: Observation, ctx: Context) -> Action:
        answers = []
        for name, worker in self.workers.items():
            action, member_ctx = await consult(ctx, worker, name, observation.text)
            reply(ctx, member_ctx, action)
            answers.append(action.text)
        if answers[0] == "DONE":
            return Action(text="DONE")
        return Action(tool_calls=[ToolCall(id=f"c{ctx.step}", name="add", arguments={"n": 1})])


def single() -> Team:
    return Team(1)


def duo() -> Team:
    return Team(2)


def test_metrics_of_a_real_run(tmp_path):
    register_counter()
    experiment = {
        "name": "coordination",
        "jobs": [
            {
                "label": name,
                "env": "test.counter",
                "params": {"target": 1},
                "tasks": 2,
                "operator": {"kind": "python", "factory": f"tests.eval.test_coordination:{name}"},
            }
            for name in ("single", "duo")
        ],
    }
    result = run(experiment, store=tmp_path / "runs.db")
    assert result.success_rate == 1.0
    single_eps = run_measures(result.store_path, result.run_id, job="single")
    duo_eps = run_measures(result.store_path, result.run_id, job="duo")
    assert len(single_eps) == len(duo_eps) == 2
    episode = duo_eps[0]
    stats = episode.agents
    assert stats["a0"].turns == 2 and stats["a0"].messages_sent == 4  # 2 steps x 2 consults
    assert stats["a0/w1"] == AgentStats(
        "a0/w1", messages_sent=2, messages_received=2, turns=2, model_calls=2,
        input_tokens=stats["a0/w1"].input_tokens, output_tokens=3,  # "add 1", "DONE"
    )  # fmt: skip
    assert stats["a0/w2"].output_tokens == 3  # "add one", "DONE"
    # step 0: {add, 1} vs {add, one} = 1/3; step 1: DONE vs DONE = 1
    assert [g.similarity for g in episode.parallel_groups] == [pytest.approx(1 / 3), 1.0]
    cost = overhead(duo_eps, single_eps)
    assert cost.pairs == 2 and cost.model_calls.of_sums == 2.0 and cost.turns.of_sums == 1.5
    with Store(result.store_path) as store:  # tokens agree with the store's own counts
        rows = {r.episode_id: r for r in store.episodes(result.run_id)}
    for m in single_eps + duo_eps:
        assert m.tokens == rows[m.episode_id].input_tokens + rows[m.episode_id].output_tokens
    duo_tokens = sum(m.tokens for m in duo_eps)
    assert cost.tokens.of_sums == pytest.approx(duo_tokens / sum(m.tokens for m in single_eps))
    assert efficiency(duo_eps) == pytest.approx(2000 / duo_tokens)
    with pytest.raises(UserError, match="its jobs: duo, single"):
        run_measures(result.store_path, result.run_id, job="trio")
