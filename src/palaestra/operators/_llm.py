"""The LLM operator: a model, a system prompt, its own tools, and a conversation.

Each environment step is one *turn*. The operator appends the observation to its
conversation and asks the model; if the model calls one of the operator's own tools, the
tool runs, its result is appended and the model is asked again (a bounded loop within the
turn). The turn ends, and becomes the step's action, when the model answers in text or
calls one of the *environment's* tools (those listed in the observation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from palaestra.core import Action, Context, Message, Observation, ToolCall
from palaestra.models import Model, ModelRequest
from palaestra.operators._recording import call_model, call_tool
from palaestra.tools import Tool, as_tools

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent acting in an interactive environment. Read each observation "
    "carefully and reply exactly in the format it asks for. Use the available tools "
    "when they help."
)


class LLMOperator:
    """An operator driven by a language model.

    Options are keyword-only. `max_tool_rounds` bounds the model calls made within one
    turn for the operator's own tools; when it is reached, the turn ends with the last
    text the model produced. The conversation is kept across the steps of an episode
    (`keep_history=False` sends only the system prompt and the current observation).
    One instance serves one agent in one episode; the runner calls `fork()` to get a
    fresh one per (episode, agent).
    """

    def __init__(
        self,
        model: Model,
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        max_tool_rounds: int = 8,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        keep_history: bool = True,
    ):
        if max_tool_rounds < 1:
            raise ValueError(f"max_tool_rounds must be >= 1, got {max_tool_rounds}")
        self.model = model
        self.system_prompt = system_prompt
        self.tools = as_tools(tools)
        self._own_specs = [t.spec for t in self.tools.values()]
        self.max_tool_rounds = max_tool_rounds
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.keep_history = keep_history
        self._history: list[Message] = []
        self._system_message: Message | None = None

    def fork(self) -> LLMOperator:
        """A fresh operator with the same configuration and an empty conversation."""
        clone = object.__new__(LLMOperator)
        clone.__dict__.update(self.__dict__)
        clone._history = []
        return clone

    def describe(self) -> str:
        """One-line description for the log (`episode_start.operators`)."""
        return f"llm:{self.model.name}"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if not self.keep_history or not self._history:
            system = self._system_message
            if system is None or system.content != self.system_prompt:
                system = self._system_message = Message(role="system", content=self.system_prompt)
            self._history = [system]
        self._history.extend(_observation_messages(observation))
        env_tools = {spec.name for spec in observation.tools}
        specs = self._own_specs + observation.tools if observation.tools else self._own_specs
        seeds = ctx.rng("model")
        text: str | None = None
        for _ in range(self.max_tool_rounds):
            request = ModelRequest(
                messages=list(self._history),
                tools=specs,
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                seed=seeds.randrange(2**31),
                agent=ctx.agent,
            )
            response, handle = await call_model(ctx, self.model, request)
            message = response.message
            self._history.append(message)
            text = message.content if message.content is not None else text
            if not message.tool_calls:
                return Action(text=message.content or "")
            to_env = [c for c in message.tool_calls if c.name in env_tools]
            if to_env:
                # Calls to our own tools made in the same message still run, so the
                # conversation stays well-formed for the next turn.
                await self._run_own(message.tool_calls, env_tools, ctx, handle)
                return Action(text=message.content, tool_calls=to_env)
            await self._run_own(message.tool_calls, env_tools, ctx, handle)
        return Action(text=text or "")

    async def _run_own(
        self, calls: list[ToolCall], env_tools: set[str], ctx: Context, parent: int
    ) -> None:
        for call in calls:
            if call.name in env_tools:
                continue
            _, tool_message = await call_tool(ctx, self.tools, call, parent=parent)
            self._history.append(tool_message)


def _observation_messages(observation: Observation) -> list[Message]:
    """The observation as chat messages: the environment's own messages (e.g. results
    of environment tool calls), else its text as a user message."""
    if observation.messages:
        messages = list(observation.messages)
        has_user_text = any(m.role == "user" for m in messages)
        if observation.text and not has_user_text and messages[-1].role != "tool":
            messages.append(Message(role="user", content=observation.text))
        return messages
    return [Message(role="user", content=observation.text)]
