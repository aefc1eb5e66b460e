"""`example.ledger`: add up a ledger the agent can only read one entry at a time.

The agent (``clerk``) sees how many entries the ledger has and a tool,
``read_entry(index)``; it answers with the total as a number. The score is verified
from the environment's own ledger: success iff the answer equals the true total.
"""

from __future__ import annotations

import random
import re
from typing import Any

from pydantic import BaseModel, Field

from palaestra.core import Action, Context, Message, Observation, ToolCall, ToolSpec
from palaestra.envs import EnvSpec, Score, Step

READ_ENTRY = ToolSpec(
    name="read_entry",
    description="The amount of ledger entry `index` (0-based).",
    parameters={
        "type": "object",
        "properties": {"index": {"type": "integer", "description": "0-based entry"}},
        "required": ["index"],
    },
)
NUMBER = re.compile(r"-?\d+")


class LedgerParams(BaseModel):
    """The parameters `palaestra envs` lists and a job's `params:` sets."""

    entries: int = Field(5, ge=1, le=100, description="entries in each ledger")
    num_tasks: int = Field(4, ge=1, le=1000, description="ledgers on offer (tasks)")


class LedgerEnv:
    """Add up a ledger read one entry at a time (one agent, `clerk`)."""

    def __init__(self, params: LedgerParams):
        self.params = params
        self.amounts: list[int] = []
        self.read: dict[int, int] = {}
        self.answer: int | None = None

    @property
    def agents(self) -> list[str]:
        return ["clerk"]

    def tasks(self) -> list[str]:
        return [f"ledger-{i}" for i in range(self.params.num_tasks)]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        rng = random.Random(f"{seed}/{task}")  # the same seed and task, the same ledger
        self.amounts = [rng.randint(-50, 200) for _ in range(self.params.entries)]
        self.read, self.answer = {}, None
        text = (
            f"The ledger has {len(self.amounts)} entries, numbered from 0. Read them with "
            "read_entry(index), then answer with their total as a number."
        )
        return {"clerk": self._observation(text)}

    async def step(self, actions: dict[str, Action]) -> Step:
        action = actions["clerk"]
        replies: list[Message] = []
        for call in action.tool_calls:
            replies.append(Message(role="tool", content=self._read(call), tool_call_id=call.id))
        if not action.tool_calls:
            found = NUMBER.search(action.text or "")
            self.answer = int(found.group()) if found else None
            return Step(observations={}, rewards={"clerk": self.score().value}, terminated=True)
        return Step(observations={"clerk": self._observation("", replies)}, rewards={"clerk": 0.0})

    def score(self) -> Score:
        total = sum(self.amounts)
        ok = self.answer == total
        return Score(
            value=float(ok),
            success=ok,
            metrics={"read_fraction": len(self.read) / max(1, len(self.amounts))},
            explanation=f"answered {self.answer}, the ledger's total is {total}",
        )

    def task_target(self) -> dict[str, Any]:
        """What is right (recorded on the score event, so a stored run can be rescored)."""
        return {"total": sum(self.amounts), "entries": len(self.amounts)}

    def _read(self, call: Any) -> str:
        if call.name != "read_entry":
            return f"error: no tool {call.name!r}; use read_entry(index)"
        index = call.arguments.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            return "error: index must be an integer"
        if not 0 <= index < len(self.amounts):
            return f"error: no entry {index}; entries are 0..{len(self.amounts) - 1}"
        self.read[index] = self.amounts[index]
        return str(self.amounts[index])

    def _observation(self, text: str, messages: list[Message] | None = None) -> Observation:
        return Observation(
            text=text,
            data={"entries": len(self.amounts), "read": dict(self.read)},
            tools=[READ_ENTRY],
            messages=messages or [],
        )


class LedgerBaseline:
    """Reads every entry, one per step, then answers their sum: the score to beat."""

    async def act(self, observation: Observation, ctx: Context) -> Action:
        read = {int(k): v for k, v in observation.data["read"].items()}
        for index in range(observation.data["entries"]):
            if index not in read:
                call = ToolCall(id=f"read-{index}", name="read_entry", arguments={"index": index})
                return Action(tool_calls=[call])
        return Action(text=str(sum(read.values())))


LEDGER = EnvSpec(
    id="example.ledger",
    factory=LedgerEnv,
    params=LedgerParams,
    description="Add up a ledger read one entry at a time (tool use, verified total).",
    baseline=lambda params, agent: LedgerBaseline(),
)
"""The registration: the entry point in pyproject.toml names this object."""
