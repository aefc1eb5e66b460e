"""Fault injection at the environment boundary: `FaultyEnvironment` wraps an
`Environment` (same interface) and injects a plan's `env` rules into its steps and
observations, and its `tool` rules into the environment tool calls of actions.

It lives in the runtime, not in `palaestra.boundaries` with the model, tool and memory
wrappers, because it needs both the boundaries' fault plans and the environment
protocol, and environments sit above boundaries in the dependency order.

**Recording.** An environment has no agent context, so the wrapper keeps the `fault`
events it produces and hands them over through `drain_events()`; the episode loop
(`palaestra.runtime`) records them under agent `env` right after `episode_start` (faults
in the first observations, parent `episode_start`) and after each `env_step` (parent
that event). An `error` or `timeout` step records its event before the episode ends.

**Which index a rule counts** (`schedule`, and the `call` in each event):

- step faults (`error`, `timeout`, `delay`): the step, once per step;
- observation faults (`malformed`, `truncate`, `inject_text`): the step at which the
  agent receives the observation (0 = the first one, from `reset`), per agent;
- `drop_message`: the step of the action that sends the message, per sending agent;
- `tool` rules: the agent's matching environment tool calls, from 0, per agent.

**What is changed.** Observation faults change what a language model reads: the
observation's `text` and the content of its last message (`data`, the structured form
for algorithmic operators, is left alone). `drop_message` loses what an agent sends to
others: one recipient's entry of `action.data["messages"]` (graph environments), else
the action's text reply. Tool `error`/`timeout` withhold the call from the environment
(nothing changes there) and answer it with an error `tool` message; the other tool
faults change the call's result message.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from palaestra.boundaries import (
    PRE_CALL,
    FaultError,
    FaultPlan,
    FaultRule,
    Hit,
    RuleStream,
    error_message,
    fires,
    transform_text,
)
from palaestra.core import Action, Message, Observation, Payload, derive_rng, derive_seed
from palaestra.envs import Environment, Score, Step, SupportsDrainEvents

ENV_AGENT = "env"
"""The agent name under which step faults are decided and all env faults recorded."""


class FaultyEnvironment:
    """An environment that injects the `env` and `tool` rules of `plan`.

    One instance serves one episode at a time: `episode_id` and `run_seed` (used when
    the plan has no seed) make its decisions those of `(seed, episode, agent,
    "fault:<rule key>")`, like the other fault wrappers; `reset` starts them over.
    `env_id` is what a rule's `target` matches at `env`.
    """

    def __init__(
        self,
        inner: Environment,
        plan: FaultPlan,
        *,
        episode_id: str = "",
        run_seed: int = 0,
        env_id: str = "env",
    ):
        self.inner = inner
        self._inner_drain = inner.drain_events if isinstance(inner, SupportsDrainEvents) else None
        """The wrapped environment's own `drain_events`, resolved once (called per step)."""
        self.plan = plan
        self.episode_id = episode_id
        self.env_id = env_id
        self.seed = run_seed if plan.seed is None else plan.seed
        self._env_rules = plan.at("env")
        self._tool_rules = plan.at("tool")
        self._streams: dict[tuple[str, int], RuleStream] = {}
        self._events: list[Payload] = []
        self._tools: dict[str, list[Any]] = {}
        self._data: dict[str, Any] = {}
        """Each agent's last observation `data`, kept in an observation the wrapper makes
        itself (algorithmic operators read their task from it)."""
        self._step = 0

    # -- the Environment interface ----------------------------------------------------

    @property
    def agents(self) -> list[str]:
        return self.inner.agents

    def tasks(self) -> list[str]:
        return self.inner.tasks()

    def score(self) -> Score:
        return self.inner.score()

    def __getattr__(self, name: str) -> Any:
        # Everything else (state(), aclose(), a domain...) is the wrapped environment's.
        if name == "inner":  # not set yet (a half-built wrapper): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def drain_events(self) -> list[Payload]:
        """The wrapped environment's own events (e.g. `code.python`'s ``isolation: none``
        warning), then the `fault` events produced since the last call (see the module
        docstring)."""
        inner = self._inner_drain
        events, self._events = self._events, []
        return [*(inner() if inner is not None else []), *events]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self._streams.clear()
        self._events.clear()
        self._tools.clear()
        self._data.clear()
        self._step = 0
        observations = await self.inner.reset(seed, task)
        return self._observe(observations, 0)

    async def step(self, actions: dict[str, Action]) -> Step:
        step = self._step
        self._step += 1
        for hit in self._step_hits(step, actions):
            self._events.append(hit.event(self.env_id))
            if hit.rule.fault in ("delay", "timeout"):
                await asyncio.sleep(hit.rule.seconds)
            if hit.rule.fault in ("error", "timeout"):
                raise FaultError(error_message(hit, f"environment {self.env_id!r} step {step}"))
        actions = {agent: self._drop(agent, action, step) for agent, action in actions.items()}
        withheld: dict[str, list[Message]] = {}
        changed: dict[str, list[Hit]] = {}
        sent: dict[str, Action] = {}
        for agent, action in actions.items():
            kept, errors = await self._tool_faults(agent, action, changed)
            if errors:
                withheld[agent] = errors
            sent[agent] = (
                action
                if len(kept) == len(action.tool_calls)
                else (action.model_copy(update={"tool_calls": kept}))
            )
        if withheld and all(agent in withheld and not sent[agent].tool_calls for agent in actions):
            # every call of the step failed: the environment is not reached at all
            result = Step(
                observations={
                    agent: Observation(
                        text="\n\n".join(m.content or "" for m in errors),
                        tools=self._tools.get(agent, []),
                        messages=errors,
                        data=self._data.get(agent),
                    )
                    for agent, errors in withheld.items()
                },
                rewards=dict.fromkeys(actions, 0.0),
                info={"faults": "every tool call of the step failed (injected)"},
            )
            withheld = {}  # already answered
        else:
            result = await self.inner.step(sent)
        observations = {
            agent: self._tool_results(obs, actions.get(agent), withheld.get(agent), changed)
            for agent, obs in result.observations.items()
        }
        result.observations = self._observe(observations, step + 1)
        return result

    # -- decisions --------------------------------------------------------------------

    def _fire(
        self, rule_index: int, rule: FaultRule, agent: str, step: int | None = None
    ) -> Hit | None:
        """Decide one call of the rule for `agent`; at `env`, the call is the `step`."""
        stream = self._streams.get((agent, rule_index))
        if stream is None:
            rng: random.Random = derive_rng(self.seed, self.episode_id, agent, f"fault:{rule.key}")
            stream = self._streams[(agent, rule_index)] = RuleStream(rng)
        if step is not None:
            stream.calls = step  # steps, not calls: a step the agent skipped still counts
        call = fires(rule, stream)
        if call is None:
            return None
        seed = derive_seed(self.seed, self.episode_id, agent, f"fault:{rule.key}:{call}")
        return Hit(rule_index, rule, call, seed)

    def _env_hits(self, agent: str, faults: frozenset[str], step: int) -> list[Hit]:
        hits = []
        for index, rule in self._env_rules:
            if rule.fault in faults and rule.matches(self.env_id, agent):
                hit = self._fire(index, rule, agent, step)
                if hit is not None:
                    hits.append(hit)
        return hits

    def _step_hits(self, step: int, actions: dict[str, Action]) -> list[Hit]:
        """Step faults: decided once per step (as agent `env`), for rules whose `agent`
        glob matches one of the acting agents; up to the first error/timeout."""
        hits: list[Hit] = []
        for index, rule in self._env_rules:
            if rule.fault not in PRE_CALL:
                continue
            if not any(rule.matches(self.env_id, agent) for agent in actions):
                continue
            hit = self._fire(index, rule, ENV_AGENT, step)
            if hit is not None:
                hits.append(hit)
                if rule.fault in ("error", "timeout"):
                    break
        return hits

    # -- what the faults do -----------------------------------------------------------

    def _drop(self, agent: str, action: Action, step: int) -> Action:
        for hit in self._env_hits(agent, frozenset({"drop_message"}), step):
            messages = action.data.get("messages") if isinstance(action.data, dict) else None
            if isinstance(messages, dict) and messages:
                recipients = sorted(messages)
                lost = recipients[random.Random(hit.seed).randrange(len(recipients))]
                kept = {k: v for k, v in messages.items() if k != lost}
                action = action.model_copy(update={"data": {**action.data, "messages": kept}})
                self._events.append(hit.event(self.env_id, agent=agent, step=step, to=lost))
            elif action.text and not action.tool_calls:
                action = action.model_copy(update={"text": ""})
                self._events.append(hit.event(self.env_id, agent=agent, step=step, to="*"))
        return action

    async def _tool_faults(
        self, agent: str, action: Action, changed: dict[str, list[Hit]]
    ) -> tuple[list[Any], list[Message]]:
        """The calls to send on, and error messages for the calls withheld; the hits
        that change a result are put in `changed` by call id."""
        if not self._tool_rules or not action.tool_calls:
            return list(action.tool_calls), []
        kept, errors = [], []
        for call in action.tool_calls:
            hits: list[Hit] = []
            for index, rule in self._tool_rules:
                if rule.matches(call.name, agent):
                    hit = self._fire(index, rule, agent)
                    if hit is not None:
                        hits.append(hit)
                        if rule.fault in ("error", "timeout"):
                            break
            for hit in hits:
                self._events.append(hit.event(call.name, agent=agent, call_id=call.id))
            failed = None
            for hit in hits:
                if hit.rule.fault in ("delay", "timeout"):
                    await asyncio.sleep(hit.rule.seconds)
                if hit.rule.fault in ("error", "timeout"):
                    failed = hit
            if failed is not None:
                text = (
                    f"Error: {error_message(failed, f'tool {call.name!r}')}. "
                    "Try the call again, or another approach."
                )
                errors.append(
                    Message(role="tool", content=text, name=call.name, tool_call_id=call.id)
                )
                continue
            kept.append(call)
            post = [hit for hit in hits if hit.rule.fault not in PRE_CALL]
            if post:
                changed[call.id] = post
        return kept, errors

    def _tool_results(
        self,
        observation: Observation,
        action: Action | None,
        errors: list[Message] | None,
        changed: dict[str, list[Hit]],
    ) -> Observation:
        """The observation with withheld calls answered (in call order) and changed
        results changed, in its messages and its text."""
        if action is None or (not errors and not changed):
            return observation
        text = observation.text
        messages = []
        for message in observation.messages:
            hits = changed.get(message.tool_call_id or "") if message.role == "tool" else None
            if hits:
                content = message.content or ""
                for hit in hits:
                    content = transform_text(content, hit)
                if message.content:
                    text = text.replace(message.content, content, 1)
                message = message.model_copy(update={"content": content})
            messages.append(message)
        if errors:
            order = {call.id: i for i, call in enumerate(action.tool_calls)}
            tool_msgs = sorted(
                [m for m in messages if m.role == "tool"] + errors,
                key=lambda m: order.get(m.tool_call_id or "", len(order)),
            )
            messages = tool_msgs + [m for m in messages if m.role != "tool"]
            text = "\n\n".join([text, *(m.content or "" for m in errors)]).strip()
        return observation.model_copy(update={"text": text, "messages": messages})

    def _observe(self, observations: dict[str, Observation], step: int) -> dict[str, Observation]:
        out = {}
        for agent, observation in observations.items():
            self._tools[agent] = list(observation.tools)
            self._data[agent] = observation.data
            observation_faults = frozenset({"malformed", "truncate", "inject_text"})
            for hit in self._env_hits(agent, observation_faults, step):
                observation = _perturb(observation, hit)
                self._events.append(hit.event(self.env_id, agent=agent, step=step))
            out[agent] = observation
        return out


def _perturb(observation: Observation, hit: Hit) -> Observation:
    """`text` and the last message with content, as the hit leaves them."""
    update: dict[str, Any] = {"text": transform_text(observation.text, hit)}
    messages = list(observation.messages)
    for position in range(len(messages) - 1, -1, -1):
        message = messages[position]
        if message.content:
            content = transform_text(message.content, hit)
            messages[position] = message.model_copy(update={"content": content})
            update["messages"] = messages
            break
    return observation.model_copy(update=update)
