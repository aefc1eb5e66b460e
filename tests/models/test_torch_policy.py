"""The torch policy model on a tiny random Llama: the token ids and logprobs it reports
are what a forward pass recomputes; batching does not change a seeded reply; tool calls
parse; multi-turn prompts continue the previous turn's exact ids."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from palaestra.core import Message, ModelError, ToolSpec, UserError  # noqa: E402
from palaestra.models import ModelRequest, model_from_spec  # noqa: E402
from tests.train.tiny_torch import tiny_policy  # noqa: E402

QUESTION = "What is 2 + 2? Reply with only the number."


def request(seed: int, *, temperature: float = 1.0, **kw: object) -> ModelRequest:
    messages = [
        Message(role="system", content="You are a calculator."),
        Message(role="user", content=QUESTION),
    ]
    return ModelRequest(messages=messages, temperature=temperature, seed=seed, **kw)  # type: ignore[arg-type]


def test_logprobs_equal_a_forward_pass_recomputation() -> None:
    policy = tiny_policy(seed=3, max_new_tokens=6)
    for temperature in (1.0, 0.7, 0.0):
        reply = policy.generate_batch([request(11, temperature=temperature)])[0]
        assert reply.prompt_token_ids and reply.token_ids and reply.logprobs
        assert len(reply.logprobs) == len(reply.token_ids) == reply.usage.output_tokens
        again = policy.token_logprobs(
            reply.prompt_token_ids, reply.token_ids, temperature=temperature
        )
        assert again == pytest.approx(reply.logprobs, abs=1e-5)


def test_concurrent_requests_are_batched_and_seeded_per_request() -> None:
    policy = tiny_policy(seed=4, max_new_tokens=5, batch_window_s=0.02)
    single = [policy.generate_batch([request(s)])[0] for s in range(6)]

    async def together() -> list:
        return await asyncio.gather(*(policy.generate(request(s)) for s in range(6)))

    batched = asyncio.run(together())
    assert [r.token_ids for r in batched] == [r.token_ids for r in single]
    for a, b in zip(batched, single, strict=True):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
    assert len({tuple(r.token_ids or []) for r in single}) > 1  # seeds differ: replies differ
    # greedy decoding and the end-of-turn token
    greedy = policy.generate_batch([request(0, temperature=0.0), request(1, temperature=0.0)])
    assert greedy[0].token_ids == greedy[1].token_ids


def test_next_turn_continues_the_exact_ids() -> None:
    policy = tiny_policy(seed=5, max_new_tokens=3)
    first_request = request(1)
    first = policy.generate_batch([first_request])[0]
    assert first.prompt_token_ids is not None and first.token_ids is not None
    history = [*first_request.messages, first.message, Message(role="user", content="Incorrect")]
    second = policy.generate_batch([ModelRequest(messages=history, seed=2)])[0]
    assert second.prompt_token_ids is not None
    done = first.prompt_token_ids + first.token_ids
    assert second.prompt_token_ids[: len(done)] == done


def test_tool_calls_and_errors() -> None:
    policy = tiny_policy(seed=6, max_new_tokens=2, max_context=8)
    with pytest.raises(ModelError, match="context"):
        policy.generate_batch([request(0)])
    policy = tiny_policy(seed=6, max_new_tokens=2)
    tools = [
        ToolSpec(name="answer", description="", parameters={"type": "object", "properties": {}})
    ]
    reply = policy.generate_batch([request(0, tools=tools)])[0]
    # a random model writes no JSON: the reply stays text, the prompt describes the tool
    assert reply.message.tool_calls == []
    assert reply.finish_reason in ("stop", "length")
    with pytest.raises(UserError, match="valid"):
        model_from_spec("torch:smollm2-135m", n_ctx=5)
    with pytest.raises(UserError, match="no model there"):
        model_from_spec("torch:/nonexistent/folder")
