"""A model provider: ``example:tally``, a rule-based model that adds up a ledger.

Any `palaestra.Model` (an object with a `name` and ``async generate(request) ->
ModelResponse``) can be offered under a spec prefix. Installed, the entry point in
pyproject.toml makes ``spec: example:tally`` work in `models:`, on ``--model`` and in
`palaestra.run`; without installing, the spec
``palaestra_example_plugin.models:PROVIDER:tally`` names it by reference.

The tally model reads the number of entries from the first message, calls
``read_entry`` for each one it has not read yet, and answers the sum of the tool
results: a stand-in for a proprietary API or a local runtime that palaestra does not
ship.
"""

from __future__ import annotations

import re
from typing import Any

from palaestra.core import Message, ToolCall, UserError
from palaestra.models import ModelProvider, ModelRequest, ModelResponse

ENTRIES = re.compile(r"has (\d+) entries")


class TallyModel:
    """Reads every ledger entry with `read_entry`, then answers their total."""

    def __init__(self, spec: str, *, batch: int = 1):
        if batch < 1:
            raise UserError(f"model {spec!r}: batch must be at least 1, got {batch}")
        self._name = spec
        self.batch = batch

    @property
    def name(self) -> str:
        return self._name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        text = " ".join(m.content or "" for m in request.messages if m.role == "user")
        found = ENTRIES.search(text)
        entries = int(found.group(1)) if found else 0
        results = [m.content or "" for m in request.messages if m.role == "tool"]
        asked = sum(len(m.tool_calls) for m in request.messages if m.role == "assistant")
        if asked < entries:
            calls = [
                ToolCall(id=f"tally-{i}", name="read_entry", arguments={"index": i})
                for i in range(asked, min(entries, asked + self.batch))
            ]
            return ModelResponse(Message(role="assistant", tool_calls=calls), model=self.name)
        total = sum(int(r) for r in results if r.lstrip("-").isdigit())
        return ModelResponse(Message(role="assistant", content=str(total)), model=self.name)


def build(
    name: str | None, *, spec: str, base_url: str | None = None, **options: Any
) -> TallyModel:
    """``example:tally`` (the only model of this provider); `options`: ``batch``."""
    if name not in (None, "tally"):
        raise UserError(f"unknown example model {name!r} in {spec!r}; valid: example:tally")
    if base_url is not None:
        raise UserError(f"model {spec!r} runs in-process and takes no base_url")
    return TallyModel(spec, **options)


PROVIDER = ModelProvider("example", build, "example:tally")
"""The registration: the entry point in pyproject.toml names this object."""
