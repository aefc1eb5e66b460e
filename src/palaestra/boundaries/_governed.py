"""The two governance wrappers: `GovernedTool` for an operator's own tools and `Governed`
for an operator's actions (calls to the environment's tools, and text replies).

What the agent sees of a block (the user of an LLM agent expects the model to learn why,
and the conversation to stay well-formed):

- **Own tool** (`GovernedTool`): the call does not run; its result is an error, `blocked by
  governance rule R: reason`, which the model reads like any tool error.
- **Environment tool** (`Governed`): blocked calls are removed from the action and never
  reach `env.step`.
  - If *every* call of the action is blocked (or a reply is blocked), the wrapper asks
    the inner operator again within the same turn, with an observation holding one `tool`
    message per blocked call (`blocked by governance rule R: ...`, answering the call's
    id) and `data["governance"]` listing the blocks; at most `max_retries` times, after
    which the agent's action is the reply `fallback`.
  - If *some* calls are allowed, the action goes to the environment with those, and the
    block messages are put in front of the agent's next observation (as `tool` messages
    and in its text), so every call the model made gets an answer.
- A rewrite executes the rewritten call; the `governance` event shows the original and
  the rewritten one, and the `action` event shows what reached the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from palaestra.boundaries._governance import (
    REPLY,
    GovernanceRequest,
    GovernanceVerdict,
    Governor,
    record,
)
from palaestra.boundaries._policy import Policy
from palaestra.core import (
    Action,
    Context,
    Message,
    Observation,
    Operator,
    current_scope,
    described,
    forked,
)
from palaestra.tools import Tool, ToolOutcome

FALLBACK_REPLY = "I'm sorry, but I am not allowed to do that."
"""The reply of a governed agent whose every retry was blocked."""


def _governor(policy: Policy | Governor | Mapping[str, Any]) -> Governor:
    return policy if isinstance(policy, Governor) else Governor(policy)


class GovernedTool(Tool):
    """A tool whose every call is decided by a policy first (needs the call scope set
    by `palaestra.operators.call_tool`; outside one it is governed as agent `""`)."""

    def __init__(self, tool: Tool, policy: Policy | Governor | Mapping[str, Any]):
        self.__dict__.update(tool.__dict__)
        self.inner = tool
        self.governor = _governor(policy)

    @property
    def spec(self) -> Any:
        return self.inner.spec

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        scope = current_scope()
        ctx = scope.ctx if scope is not None else None
        request = GovernanceRequest(
            agent=ctx.agent if ctx is not None else "",
            name=self.inner.name,
            arguments=dict(arguments),
            boundary="own",
            episode_id=ctx.episode_id if ctx is not None else "",
            step=ctx.step if ctx is not None else 0,
        )
        verdict = await self.governor.decide(request)
        if ctx is not None and scope is not None:
            record(ctx, request, verdict, parent=scope.parent)
        if verdict.decision == "block":
            return ToolOutcome(f"Error: {verdict.message}", is_error=True)
        return await self.inner.call(verdict.arguments)

    def __repr__(self) -> str:
        return f"GovernedTool({self.inner!r})"


class Governed:
    """An operator whose actions are decided by a policy before the environment sees
    them (see the module docstring for what the agent is told)."""

    def __init__(
        self,
        operator: Operator,
        policy: Policy | Governor | Mapping[str, Any],
        *,
        max_retries: int = 2,
        fallback: str = FALLBACK_REPLY,
    ):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.operator = operator
        self.governor = _governor(policy)
        self.max_retries = max_retries
        self.fallback = fallback
        self._pending: list[tuple[str, str, str]] = []
        """(call id, tool name, message) of blocks to show in the next observation."""

    def fork(self) -> Governed:
        inner = forked(self.operator)
        return Governed(inner, self.governor, max_retries=self.max_retries, fallback=self.fallback)

    def describe(self) -> str:
        return f"{described(self.operator)}+governance:{self.governor.policy.name}"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if self._pending:
            observation = _with_notices(observation, self._pending)
            self._pending = []
        for _ in range(self.max_retries + 1):
            action = await self.operator.act(observation, ctx)
            if action.tool_calls:
                kept, blocked = await self._decide_calls(action, ctx)
                if kept:
                    self._pending = blocked
                    return action.model_copy(update={"tool_calls": kept})
            else:
                verdict = await self._decide_reply(action, ctx)
                if verdict is None or verdict.decision == "allow":
                    return action
                if verdict.decision == "rewrite":
                    return action.model_copy(update={"text": verdict.arguments.get("text", "")})
                blocked = [("", REPLY, verdict.message)]
            observation = _feedback(observation, blocked)
        return Action(text=self.fallback)

    async def _decide_calls(
        self, action: Action, ctx: Context
    ) -> tuple[list[Any], list[tuple[str, str, str]]]:
        kept = []
        blocked: list[tuple[str, str, str]] = []
        for call in action.tool_calls:
            request = GovernanceRequest(
                agent=ctx.agent,
                name=call.name,
                arguments=dict(call.arguments),
                episode_id=ctx.episode_id,
                step=ctx.step,
            )
            verdict = await self.governor.decide(request)
            record(ctx, request, verdict, parent=ctx.turn_event)
            if verdict.decision == "block":
                blocked.append((call.id, call.name, verdict.message))
            elif verdict.decision == "rewrite":
                kept.append(call.model_copy(update={"arguments": verdict.arguments}))
            else:
                kept.append(call)
        return kept, blocked

    async def _decide_reply(self, action: Action, ctx: Context) -> GovernanceVerdict | None:
        if not self.governor.governs_replies:
            return None
        request = GovernanceRequest(
            agent=ctx.agent,
            name=REPLY,
            arguments={"text": action.text or ""},
            kind="reply",
            episode_id=ctx.episode_id,
            step=ctx.step,
        )
        verdict = await self.governor.decide(request)
        record(ctx, request, verdict, parent=ctx.turn_event)
        return verdict


def _notice_messages(blocks: list[tuple[str, str, str]]) -> list[Message]:
    out = []
    for call_id, name, message in blocks:
        if name == REPLY:
            out.append(Message(role="user", content=f"{message}. Reply differently."))
        else:
            out.append(
                Message(role="tool", content=f"Error: {message}", name=name, tool_call_id=call_id)
            )
    return out


def _notice_data(blocks: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [{"call_id": i, "name": n, "message": m} for i, n, m in blocks]


def _feedback(observation: Observation, blocks: list[tuple[str, str, str]]) -> Observation:
    """The observation that tells the agent its action was blocked, to act again."""
    data = {k: v for k, v in observation.data.items() if k != "turn"}
    data.update(source="governance", governance=_notice_data(blocks))
    return Observation(
        text="\n".join(m for _, _, m in blocks),
        data=data,
        tools=observation.tools,
        messages=_notice_messages(blocks),
    )


def _with_notices(observation: Observation, blocks: list[tuple[str, str, str]]) -> Observation:
    """`observation` with the block messages of the previous action in front."""
    notices = _notice_messages(blocks)
    messages = list(observation.messages)
    if not messages and observation.text:
        messages = [Message(role="user", content=observation.text)]
    text = "\n".join(m for _, _, m in blocks)
    data = dict(observation.data)
    data["governance"] = _notice_data(blocks)
    return observation.model_copy(
        update={
            "text": f"{text}\n\n{observation.text}" if observation.text else text,
            "messages": [*notices, *messages],
            "data": data,
        }
    )
