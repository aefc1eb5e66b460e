"""The verl adapter without verl: a palaestra episode served token-in/token-out by a
stand-in for verl's vLLM server manager, recorded in the store, turned into the fields
of verl's `AgentLoopOutput`."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

pytest.importorskip("transformers")

from palaestra.envs.arith._env import ArithParams, question  # noqa: E402
from palaestra.store import Store  # noqa: E402
from palaestra.train._verl import (  # noqa: E402
    AGENT_NAME,
    VerlServerModel,
    run_palaestra_episode,
    verl_output,
    verl_rows,
)
from tests.train.tiny import tiny_tokenizer  # noqa: E402

EXPERIMENT = {
    "name": "verl-unit",
    "models": {"policy": {"max_tokens": 8}},
    "jobs": [
        {
            "env": "arith.drill",
            "params": {"ops": ["add"], "tries": 2},
            "seeds": [4],
            "operator": {"kind": "llm", "model": "policy"},
        }
    ],
}


class FakeServerManager:
    """Stands in for verl's AsyncLLMServerManager: answers `replies` in order, as ids
    with a log-probability each (verl's TokenOutput)."""

    def __init__(self, tokenizer, replies):
        self.tokenizer = tokenizer
        self.replies = list(replies)
        self.calls = []

    async def generate(self, request_id, *, prompt_ids, sampling_params):
        self.calls.append((request_id, list(prompt_ids), dict(sampling_params)))
        text = self.replies.pop(0)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        ids.append(self.tokenizer.eos_token_id)
        return SimpleNamespace(token_ids=ids, log_probs=[-0.25] * len(ids))


def test_episode_becomes_agent_loop_output(tmp_path):
    tokenizer = tiny_tokenizer()
    _, answer = question(ArithParams(ops=["add"]), "add", 4)
    server = FakeServerManager(tokenizer, [str(answer + 1), str(answer)])
    model = VerlServerModel(server, tokenizer, sampling_params={"temperature": 0.9})
    store = Store(tmp_path / "verl.db")
    task = verl_rows(EXPERIMENT)[0]["extra_info"]["palaestra"]
    trajectory = asyncio.run(
        run_palaestra_episode(EXPERIMENT, task, model, store=store, agent="solver")
    )
    assert trajectory is not None and len(trajectory.turns) == 2
    # the server got the episode's turns on one request id, continuing the same ids
    (id1, prompt1, params1), (id2, prompt2, params2) = server.calls
    assert id1 == id2 and params1 == {"temperature": 0.9, "max_tokens": 8}
    first = trajectory.turns[0]
    assert prompt2[: len(prompt1) + len(first.token_ids)] == prompt1 + first.token_ids

    out = verl_output(trajectory, prompt_length=512, response_length=256)
    assert out["prompt_ids"] == prompt1
    second = trajectory.turns[1]
    feedback = prompt2[len(prompt1) + len(first.token_ids) :]
    assert out["response_ids"] == first.token_ids + feedback + second.token_ids
    assert out["response_mask"] == (
        [1] * len(first.token_ids) + [0] * len(feedback) + [1] * len(second.token_ids)
    )
    assert out["response_logprobs"] == [-0.25 if m else 0.0 for m in out["response_mask"]]
    # the environment's verified score: right on the second try, discounted by 0.5
    assert out["reward_score"] == pytest.approx(0.5)
    assert out["extra_fields"]["success"] is True
    assert out["num_turns"] == 5
    assert store.episodes(trajectory.run_id)[0].status == "finished"

    cut = verl_output(trajectory, prompt_length=4, response_length=3)
    assert cut["prompt_ids"] == prompt1[-4:] and len(cut["response_ids"]) == 3
    assert cut["extra_fields"]["prompt_cut"] == len(prompt1) - 4
    store.close()


def test_rows_name_the_agent_loop_and_task():
    rows = verl_rows(EXPERIMENT)
    assert [r["agent_name"] for r in rows] == [AGENT_NAME]
    assert rows[0]["extra_info"]["palaestra"] == {"job": "arith.drill", "task": "add", "seed": 4}


def test_agent_loop_needs_verl():
    import importlib.util

    import palaestra.train._verl as adapter

    if importlib.util.find_spec("verl") is not None:
        pytest.skip("verl is installed")
    with pytest.raises(ImportError):
        adapter.PalaestraAgentLoop  # noqa: B018
