"""Trajectories from real stored runs: token segments, masks, rewards, flags."""

from __future__ import annotations

from pathlib import Path

import pytest

import palaestra
from palaestra.core import Message, UserError
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig, load_experiment
from palaestra.store import Store
from palaestra.train import (
    Trajectory,
    episode_trajectories,
    make_batch,
    regex_answers,
    tag_answers,
    trajectories,
)
from palaestra.train._trajectory import join_segments
from tests.runtime.toy_env import register_counter
from tests.train.policy import TokenPolicy, encode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _counter_env() -> None:
    register_counter()


def _counter(**kw) -> Job:
    params = kw.pop("params", {})
    operator = LLMOperatorConfig(model="default", keep_history=kw.pop("keep_history", True))
    return Job(env="test.counter", params=params, operator=operator, **kw)


SOLVE = [ScriptedModel.call("add", n=2), ScriptedModel.call("add", n=1), "<answer>DONE</answer>"]


def _run(tmp_path, jobs, script=SOLVE, *, tokens=True, **kw):
    model = ScriptedModel(script, cycle=True)
    policy = TokenPolicy(model) if tokens else model
    result = palaestra.run(
        Experiment(jobs=jobs, **kw), store=tmp_path / "runs.db", models={"default": policy}
    )
    return result, Store(tmp_path / "runs.db")


def test_multi_turn_trajectory_joins_turns_without_retokenising(tmp_path):
    # "<answer>DONE</answer>" is not DONE: make the answer plain so the env terminates
    script = [ScriptedModel.call("add", n=2), ScriptedModel.call("add", n=1), "DONE"]
    result, store = _run(tmp_path, [_counter()], script)
    with store:
        (t,) = trajectories(store, result.run_id)
        events = store.events(result.run_id, t.episode_id)
    assert t.key == ("test.counter", "t0", 0, 0, "a0")
    assert (t.reward, t.success, t.end_reason, t.env_failure) == (1.0, True, "done", False)
    assert t.step_rewards == [0.0, 0.0, 1.0] and t.steps == 3
    assert [turn.step for turn in t.turns] == [0, 1, 2]
    assert all(turn.has_tokens for turn in t.turns) and t.has_tokens
    # every turn's prompt continues the previous prompt + reply: one sequence
    (segment,) = t.segments
    assert segment.turns == (0, 1, 2)
    last = t.turns[-1]
    assert segment.input_ids == last.prompt_token_ids + last.token_ids
    generated = [tok for tok, m in zip(segment.input_ids, segment.loss_mask, strict=True) if m]
    assert generated == sum((turn.token_ids for turn in t.turns), [])
    for turn, (start, end) in zip(t.turns, segment.spans, strict=True):
        assert segment.input_ids[start:end] == turn.token_ids
        assert segment.loss_mask[start:end] == [1] * (end - start)
    assert sum(segment.loss_mask) == sum(len(turn.token_ids) for turn in t.turns)
    assert segment.logprobs is not None
    assert [lp for lp, m in zip(segment.logprobs, segment.loss_mask, strict=True) if m] == [
        -0.5
    ] * sum(segment.loss_mask)
    assert all(
        lp == 0.0 for lp, m in zip(segment.logprobs, segment.loss_mask, strict=True) if not m
    )
    # the ids come from the log, as recorded by the model
    responses = [e for e in events if e.kind == "model_response"]
    assert [r.payload.token_ids for r in responses] == [turn.token_ids for turn in t.turns]
    assert t.turns[0].response.tool_calls[0].name == "add"
    assert t.turns[-1].response.content == "DONE"
    # the env tool's results count as tool results of the agent
    assert (t.tool_calls, t.tool_errors) == (2, 0)


def test_turns_that_do_not_continue_start_a_new_segment(tmp_path):
    script = [ScriptedModel.call("add", n=2), ScriptedModel.call("add", n=1), "DONE"]
    result, store = _run(tmp_path, [_counter(keep_history=False)], script)
    with store:
        (t,) = trajectories(store, result.run_id)
    assert [s.turns for s in t.segments] == [(0,), (1,), (2,)]
    for turn, segment in zip(t.turns, t.segments, strict=True):
        assert segment.input_ids == turn.prompt_token_ids + turn.token_ids
        assert segment.loss_mask == [0] * len(turn.prompt_token_ids) + [1] * len(turn.token_ids)
    # join=False: one segment per turn even where they continue
    with Store(tmp_path / "runs.db") as store:
        (joined_off,) = trajectories(store, result.run_id, join=False)
    assert len(joined_off.segments) == 3


def test_join_rule_on_hand_built_turns():
    from palaestra.train import Turn

    def turn(index, prompt, gen, logprobs=True):
        return Turn(
            index=index, step=index, request_seq=2 * index, response_seq=2 * index + 1,
            messages=[], tools=[], response=Message(role="assistant", content="x"),
            prompt_token_ids=prompt, token_ids=gen,
            logprobs=[-1.0] * len(gen) if logprobs else None,
        )  # fmt: skip

    turns = [
        turn(0, [1, 2], [3]),
        turn(1, [1, 2, 3, 4], [5, 6]),  # continues: new prompt piece [4]
        turn(2, [9, 9], [7], logprobs=False),  # history re-rendered: new segment
    ]
    first, second = join_segments(turns)
    assert first.input_ids == [1, 2, 3, 4, 5, 6]
    assert first.loss_mask == [0, 0, 1, 0, 1, 1]
    assert first.spans == ((2, 3), (4, 6))
    assert first.logprobs == [0.0, 0.0, -1.0, 0.0, -1.0, -1.0]
    assert second.input_ids == [9, 9, 7] and second.loss_mask == [0, 0, 1]
    assert second.logprobs is None  # that turn did not record them
    bad = [turn(0, [1], [2]), Turn(**{**turn(1, [1, 2], [3]).__dict__, "logprobs": [0.0, 0.0]})]
    with pytest.raises(ValueError, match="2 logprobs for 1 token ids"):
        join_segments(bad)


def test_api_model_turns_are_text_level(tmp_path):
    script = [ScriptedModel.call("add", n=3), "DONE"]
    result, store = _run(tmp_path, [_counter()], script, tokens=False)
    with store:
        (t,) = trajectories(store, result.run_id)
    assert len(t.turns) == 2 and t.segments == []
    assert not t.has_tokens and not any(turn.has_tokens for turn in t.turns)
    assert t.turns[1].messages[-1].role == "tool"  # the prompt as messages
    batch = make_batch([t, _copy(t, epoch=1, reward=0.0)], "grpo")
    assert batch.samples() == []
    texts = batch.text_samples(untokenised_only=True)
    assert [s.response.content for s in texts if s.turn == 1] == ["DONE", "DONE"]
    assert texts[0].advantage > 0 > texts[-1].advantage


def test_environment_failure_is_masked_not_reward_zero(tmp_path):
    jobs = [_counter(params={"fail_at_step": 1}, label="broken"), _counter(label="fine")]
    script = [ScriptedModel.call("add", n=2), ScriptedModel.call("add", n=1), "DONE"]
    result, store = _run(tmp_path, jobs, script)
    with store:
        trajs = trajectories(store, result.run_id)
    broken = next(t for t in trajs if t.key.job == "broken")
    fine = next(t for t in trajs if t.key.job == "fine")
    assert broken.env_failure and broken.masked and broken.end_reason == "error"
    assert "step 1 exploded" in (broken.end_error or "")
    assert len(broken.turns) == 2  # what the policy did is still there
    assert not fine.masked
    batch = make_batch(trajs, "grpo", drop_uniform=False)
    assert batch.masked == 1 and [t.key.job for t in batch.trajectories] == ["fine"]
    # the reasons that count as failures are configurable
    with Store(tmp_path / "runs.db") as store:
        unmasked = trajectories(store, result.run_id, masked_reasons=())
    assert not any(t.masked for t in unmasked)


def test_multi_agent_environment_splits_per_agent(tmp_path):
    def reply(request):
        agent = request.agent
        turn = sum(m.role == "assistant" for m in request.messages)
        if turn == 0:
            return ScriptedModel.call("add", n=1 if agent == "a0" else 2)
        return "DONE"

    model = TokenPolicy(ScriptedModel(fn=reply))
    experiment = Experiment(jobs=[_counter(params={"agents": 2}, seeds=2)])
    result = palaestra.run(experiment, store=tmp_path / "runs.db", models={"default": model})
    with Store(tmp_path / "runs.db") as store:
        trajs = trajectories(store, result.run_id)
        a1_only = trajectories(store, result.run_id, agents=["a1"])
    assert [(t.key.seed, t.agent) for t in trajs] == [(0, "a0"), (0, "a1"), (1, "a0"), (1, "a1")]
    assert [t.agent for t in a1_only] == ["a1", "a1"]
    a0, a1 = trajs[:2]
    assert a0.episode_id == a1.episode_id
    assert a0.reward == a1.reward == 1.0  # counter 1 + 2 = 3: the shared score
    assert a0.step_rewards == a1.step_rewards == [0.0, 1.0]
    # each agent's own conversation: a0 added 1, a1 added 2
    assert a0.turns[0].response.tool_calls[0].arguments == {"n": 1}
    assert a1.turns[0].response.tool_calls[0].arguments == {"n": 2}
    assert a0.turns[0].token_ids != a1.turns[0].token_ids
    assert all(len(t.segments) == 1 for t in trajs)


def test_multi_agent_system_gives_one_trajectory_per_internal_agent(tmp_path):
    experiment = load_experiment(ROOT / "examples/systems/centralized.yaml")
    result = palaestra.run(experiment, store=tmp_path / "runs.db")
    with Store(tmp_path / "runs.db") as store:
        trajs = trajectories(store, result.run_id)
    by_agent = {t.agent: t for t in trajs}
    assert set(by_agent) == {"agent", "agent/q1_solver", "agent/q2_solver"}
    boss = by_agent["agent"]  # the orchestrator is the environment's agent
    assert len(boss.turns) == 2 and boss.reward == 1.0 and boss.success
    assert boss.turns[0].response.tool_calls[0].name == "delegate_to_q1_solver"
    assert by_agent["agent/q1_solver"].turns[0].response.content.startswith("Q1 = 14")
    # internal agents get their environment agent's step rewards, and its observation key
    assert boss.step_rewards == by_agent["agent/q1_solver"].step_rewards
    assert boss.turns[0].observation_key == by_agent["agent/q1_solver"].turns[0].observation_key
    assert all(t.key.job == "delegate" for t in trajs)


def test_answer_detection_and_penalty(tmp_path):
    result, store = _run(
        tmp_path, [_counter(max_steps=3)], [ScriptedModel.call("add", n=9), "<answer>4"]
    )
    with store:
        (t,) = trajectories(store, result.run_id)
        (plain,) = trajectories(store, result.run_id, answer_format=regex_answers(r"answer>"))
    # add 9 overshoots; then the unclosed answer (twice, until max_steps)
    assert t.end_reason == "max_steps" and t.reward == 0.0
    assert t.answer_unclosed and t.format_penalty == 1.0
    assert (t.tool_calls, t.tool_errors, t.tool_error_share) == (1, 0, 0.0)
    assert plain.answers == 1 and not plain.answer_unclosed
    assert plain.format_penalty == 0.0  # (1 − 1) / 3 turns


def test_tag_answers_counts():
    count = tag_answers()
    assert count("no answer") == (0, False)
    assert count("<answer>1</answer> then <answer>2</answer>") == (2, False)
    assert count("<answer>1</answer> <answer>2") == (1, True)


def test_unknown_run_is_a_user_error(tmp_path):
    with Store(tmp_path / "runs.db") as store, pytest.raises(UserError, match="no run 'nope'"):
        trajectories(store, "nope")


def test_unfinished_log_is_refused():
    with pytest.raises(ValueError, match="not a finished log"):
        episode_trajectories(
            [_start_event()],
        )
    assert episode_trajectories([]) == []


def _start_event():
    from palaestra.core import EpisodeStart, make_event

    return make_event("j/t/0/0", 0, 0, "env", EpisodeStart(env="e", task="t", seed=0))


def _copy(t: Trajectory, *, epoch: int, reward: float) -> Trajectory:
    from dataclasses import replace

    return replace(t, key=t.key._replace(epoch=epoch), reward=reward, success=reward > 0)


def test_encode_is_char_level():
    assert encode("ab") == [97, 98]
