"""Prompt token ids for a policy served by token ids: the chat template, and multi-turn
prompts that continue the exact ids of the previous turn.

A chat template re-renders the whole conversation at every turn, and rendering the text
the policy generated does not always give back the ids it sampled (whitespace, tool calls
re-serialised, the end-of-turn glue that generation never writes). A trainer that took
those re-rendered ids would compute log-probabilities of tokens the policy never
sampled. So the policy remembers, per conversation, `prompt ids + generated ids`, and a
request that extends a remembered conversation (the same messages, the reply, then new
ones) gets `those ids + the ids of the new messages only`; the trajectory builder then
joins the turns into one training sequence (`palaestra.train.join_segments`).

Conversations are keyed by their content (not by agent name: the G rollouts of a group
run concurrently under the same agent name), in a bounded LRU. Messages are rendered the
way the embedded model renders them (`_embedded._chat_messages`: tools described in the
system prompt, tool results as user turns, tool calls as `{"tool": ...}` JSON).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from palaestra.core import Message
from palaestra.models._embedded import _chat_messages
from palaestra.models._protocol import ModelRequest

_MARK = "\u2063palaestra\u2063"
"""A text no template changes: used to find where a rendered message's content sits."""

Rendered = list[dict[str, str]]


def _key(rendered: Rendered) -> str:
    text = json.dumps(rendered, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class PromptTokens:
    """Prompt ids for requests, continuing remembered conversations (see module doc)."""

    def __init__(self, tokenizer: Any, *, capacity: int = 4096):
        self.tokenizer = tokenizer
        self.capacity = capacity
        self._seen: OrderedDict[str, tuple[list[int], bool]] = OrderedDict()
        self.eos_text: str = tokenizer.eos_token or ""
        self.eos_id: int | None = tokenizer.eos_token_id
        self._glue = self._template_glue()

    # -- rendering ------------------------------------------------------------------------

    def _text(self, messages: Rendered, *, generation: bool) -> str:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation
        )
        assert isinstance(text, str)
        return text

    def encode(self, text: str) -> list[int]:
        """Ids of a text, no special tokens added (the template writes them)."""
        return [int(i) for i in self.tokenizer.encode(text, add_special_tokens=False)]

    def _template_glue(self) -> str:
        """What the template writes after an assistant message's end-of-turn token
        (ChatML: a newline), which generation never produces."""
        system = {"role": "system", "content": "s"}
        text = self._text([system, {"role": "assistant", "content": _MARK}], generation=False)
        after = text.split(_MARK, 1)[1] if _MARK in text else ""
        if self.eos_text and after.startswith(self.eos_text):
            return after[len(self.eos_text) :]
        return ""

    def _delta_text(self, new: Rendered) -> str | None:
        """The text of `new` messages continuing a conversation, ending with the
        generation prompt; None for a template that renders messages interdependently."""
        system: Rendered = [{"role": "system", "content": "s"}]
        base = self._text(system, generation=False)
        full = self._text(system + new, generation=True)
        return full[len(base) :] if full.startswith(base) else None

    # -- the two calls --------------------------------------------------------------------

    def prompt_ids(self, request: ModelRequest) -> list[int]:
        """The ids to generate the reply to `request` from."""
        rendered = _chat_messages(request)
        for cut in range(len(rendered) - 1, 0, -1):
            found = self._seen.get(_key(rendered[:cut]))
            if found is None:
                continue
            ids, closed = found
            delta = self._delta_text(rendered[cut:])
            if delta is None:
                break
            self._seen.move_to_end(_key(rendered[:cut]))
            closing = self._glue if closed else self.eos_text + self._glue
            return ids + self.encode(closing + delta)
        return self.encode(self._text(rendered, generation=True))

    def record(
        self, request: ModelRequest, reply: Message, prompt_ids: list[int], generated: list[int]
    ) -> None:
        """Remember `request` + `reply` as `prompt_ids + generated` ids."""
        messages = [*request.messages, reply]
        rendered = _chat_messages(ModelRequest(messages=messages, tools=request.tools))
        closed = bool(generated) and generated[-1] == self.eos_id
        self._seen[_key(rendered)] = (prompt_ids + generated, closed)
        self._seen.move_to_end(_key(rendered))
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def clear(self) -> None:
        """Forget every remembered conversation."""
        self._seen.clear()
