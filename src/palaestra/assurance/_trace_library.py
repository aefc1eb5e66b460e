"""Built-in trace contracts: properties of a whole episode, checked as events arrive.

Each keeps a little state per episode and reports a violation as soon as the log shows
one (or at the end, where only the end can tell). docs/contracts.md defines each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field, model_validator

from palaestra.assurance._contracts import (
    CheckResult,
    Contract,
    EpisodeView,
    OnViolation,
    TraceContract,
    Violation,
)
from palaestra.assurance._library import Params, calls_of, root
from palaestra.core import Event

# -- terminates_within -------------------------------------------------------------------


class TerminatesWithinParams(Params):
    max_steps: int = Field(ge=1)
    """The environment must report `terminated` at a step < max_steps (within N steps)."""


class _Terminates:
    __slots__ = ("n", "done")

    def __init__(self, n: int):
        self.n = n
        self.done = False

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        if self.done:
            return None
        if event.kind == "env_step" and event.payload.terminated:  # type: ignore[attr-defined]
            self.done = event.step < self.n
        if not self.done and event.step >= self.n:
            return f"step {event.step} began without the environment reporting `terminated`; expected termination within {self.n} steps"  # noqa: E501
        return None

    def finish(self, view: EpisodeView) -> CheckResult:
        if self.done:
            return None
        last = view.last
        at = last.step if last is not None else 0
        return (
            f"the episode ended at step {at} without the environment reporting "
            f"`terminated`; expected termination within {self.n} steps"
        )


def terminates_within(
    *, max_steps: int, name: str = "terminates_within", on_violation: OnViolation = "record"
) -> Contract:
    """Trace: the environment reports `terminated` within `max_steps` steps (an env_step
    with terminated=true at step < max_steps). Violated at the first event of step
    `max_steps`, or at the end for an episode that ended otherwise (truncated, error,
    budget, a step limit)."""
    return TraceContract(
        name,
        lambda: _Terminates(max_steps),
        kinds=frozenset({"observation", "env_step", "score"}),
        on_violation=on_violation,
    )


# -- tool_calls_answered -----------------------------------------------------------------


class ToolCallsAnsweredParams(Params):
    env_calls: bool = True
    """Also require an answer to each call of an action to the environment's tools."""


def _answered_ids(event: Event) -> set[str]:
    obs: Any = event.payload.observation  # type: ignore[attr-defined]
    ids = {m.tool_call_id for m in obs.messages if m.role == "tool" and m.tool_call_id}
    results = obs.data.get("tool_results") if isinstance(obs.data, dict) else None
    if isinstance(results, list):
        ids.update(str(r["id"]) for r in results if isinstance(r, dict) and "id" in r)
    return ids


class _Answered:
    __slots__ = ("env_calls", "own", "env")

    def __init__(self, env_calls: bool):
        self.env_calls = env_calls
        self.own: dict[int, Event] = {}
        self.env: dict[str, list[tuple[str, Event]]] = {}

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        kind, p = event.kind, event.payload
        if kind == "tool_call":
            self.own[event.seq] = event
        elif kind == "tool_result":
            parent = event.parent
            if parent is not None and parent in self.own:
                del self.own[parent]
            else:  # matched by call id
                key = next(
                    (s for s, e in self.own.items() if e.payload.call.id == p.call_id),  # type: ignore[attr-defined]
                    None,
                )
                if key is not None:
                    del self.own[key]
        elif kind == "action":
            agent = event.agent
            late = [e for e in self.own.values() if root(e.agent) == agent]
            if late:
                return _unanswered(min(late, key=lambda e: e.seq), "before the agent acted")
            if self.env_calls:
                calls = p.action.tool_calls  # type: ignore[attr-defined]
                if calls:
                    self.env[agent] = [(c.id, event) for c in calls]
        elif kind == "observation":
            pending = self.env.pop(event.agent, None)
            if pending:
                answered = _answered_ids(event)
                missing = [(i, e) for i, e in pending if i not in answered]
                if missing:
                    call_id, action = missing[0]
                    return Violation.at(
                        action,
                        f"the environment call {call_id!r} of this action got no answer in "
                        f"the agent's next observation (seq {event.seq}); expected a `tool` "
                        "message with its id",
                    )
        return None

    def finish(self, view: EpisodeView) -> CheckResult:
        if self.own:
            first = min(self.own.values(), key=lambda e: e.seq)
            return _unanswered(first, "by the end of the episode")
        return None  # env calls of the last action: no observation followed


def _unanswered(call: Event, when: str) -> Violation:
    p: Any = call.payload
    return Violation.at(
        call,
        f"tool call {p.call.name!r} (id {p.call.id!r}) has no tool_result {when}; "
        "expected every tool call to get a result",
    )


def tool_calls_answered(
    *,
    env_calls: bool = True,
    name: str = "tool_calls_answered",
    on_violation: OnViolation = "record",
) -> Contract:
    """Trace: every `tool_call` gets a `tool_result` (its child, or one with its call
    id) before its agent's action; with `env_calls`, every call of an action to the
    environment's tools is answered by the agent's next observation (a `tool` message
    or `data.tool_results` entry with the call's id). The last action's calls are not
    judged when no observation follows (the episode ended)."""
    return TraceContract(
        name,
        lambda: _Answered(env_calls),
        kinds=frozenset({"tool_call", "tool_result", "action", "observation"}),
        on_violation=on_violation,
    )


# -- no_action_after_block ---------------------------------------------------------------


class NoActionAfterBlockParams(Params):
    pass


class _AfterBlock:
    __slots__ = ("calls", "blocked_own", "blocked_env")

    def __init__(self) -> None:
        self.calls: set[int] = set()
        self.blocked_own: dict[int, Event] = {}
        self.blocked_env: dict[tuple[str, int], list[Event]] = {}

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        kind, p = event.kind, event.payload
        if kind == "tool_call":
            self.calls.add(event.seq)
        elif kind == "governance":
            if p.decision != "block":  # type: ignore[attr-defined]
                return None
            if event.parent is not None and event.parent in self.calls:
                self.blocked_own[event.parent] = event
            else:
                self.blocked_env.setdefault((root(event.agent), event.step), []).append(event)
        elif kind == "tool_result":
            block = self.blocked_own.get(event.parent) if event.parent is not None else None
            if block is not None and not p.is_error:  # type: ignore[attr-defined]
                return (
                    f"tool call at seq {event.parent} was blocked by governance rule "
                    f"{block.payload.rule!r} (seq {block.seq}) but ran: its result is not an "  # type: ignore[attr-defined]
                    "error; expected a blocked call never to execute"
                )
        elif kind == "action":
            for block in self.blocked_env.get((event.agent, event.step), ()):
                found = _executes(event, block)
                if found:
                    return found
        return None

    def finish(self, view: EpisodeView) -> CheckResult:
        return None


def _executes(action_event: Event, block: Event) -> str | None:
    g: Any = block.payload
    action: Any = action_event.payload.action  # type: ignore[attr-defined]
    blocked_args = g.detail.get("arguments")
    what = f"blocked by governance rule {g.rule!r} (seq {block.seq})"
    if g.detail.get("kind") == "reply":
        text = (blocked_args or {}).get("text")
        if text and action.text == text and not action.tool_calls:
            return f"the reply {what} reached the environment; expected it never to"
        return None
    call_id = g.detail.get("call_id")
    for call in action.tool_calls:
        same = (
            call.id == call_id
            if call_id
            else (
                call.name == g.target and (blocked_args is None or call.arguments == blocked_args)
            )
        )
        if same:
            return (
                f"the call {call.name}({json.dumps(call.arguments)[:60]}) was {what} but "
                "the action still sends it to the environment; expected a blocked call "
                "never to execute"
            )
    return None


def no_action_after_block(
    *, name: str = "no_action_after_block", on_violation: OnViolation = "record"
) -> Contract:
    """Trace: a call that governance blocked never executes. An own tool call blocked
    (a `governance` block whose parent is the `tool_call`) must get an error result; a
    call to the environment blocked in a turn (same agent and step, same tool name and
    arguments, or the same `call_id` where the decision records one) must not be in
    that turn's `action`; a blocked reply must not be the action's text."""
    return TraceContract(
        name,
        _AfterBlock,
        kinds=frozenset({"tool_call", "governance", "tool_result", "action"}),
        on_violation=on_violation,
    )


# -- cites_tool_result -------------------------------------------------------------------


class CitesToolResultParams(Params):
    agents: str = "*"
    """Glob of the agents whose final answer is judged."""
    min_length: int = Field(4, ge=1)
    """Shortest value that counts (shorter ones match by chance)."""
    pattern: str | None = None
    """If set, only values fully matching this regex count (e.g. `#?[A-Z]\\d+`)."""
    require_tool_results: bool = True
    """An answer given when no tool result was seen before it is a violation."""
    case_sensitive: bool = False


_TOKEN = re.compile(r"[A-Za-z0-9$#](?:[\w.@$#:/-]*[A-Za-z0-9])?")


def result_values(content: str, min_length: int) -> list[str]:
    """The values of a tool result: its JSON leaves (strings, numbers) if it is JSON,
    else its tokens that hold a digit (ids, amounts, dates); each at least `min_length`
    characters long."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    out: list[str] = []
    if isinstance(data, dict | list):
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                out.append(item.strip())
            elif isinstance(item, int | float) and not isinstance(item, bool):
                out.append(str(item))
                if isinstance(item, float):
                    out.append(f"{item:.2f}")
    else:
        out = [t for t in _TOKEN.findall(content) if any(c.isdigit() for c in t)]
    return [v for v in out if len(v) >= min_length]


class _Cites:
    """Keeps the tool results' contents; their values are read at the end, and only
    until one is found in the final answer."""

    def __init__(self, params: CitesToolResultParams):
        import fnmatch

        self.params = params
        self.match = lambda agent: fnmatch.fnmatchcase(agent, params.agents)
        self.regex = re.compile(params.pattern) if params.pattern else None
        self.contents: list[str] = []
        self.final: tuple[Event, int] | None = None

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        p: Any = event.payload
        if event.kind == "tool_result":
            self.contents.append(p.content)
        elif event.kind == "observation":
            for message in p.observation.messages:
                if message.role == "tool" and message.content:
                    self.contents.append(message.content)
        elif event.kind == "action" and p.action.text and self.match(event.agent):
            self.final = (event, len(self.contents))
        return None

    def _values(self, n: int) -> Iterator[str]:
        seen: set[str] = set()
        for content in self.contents[:n]:
            for value in result_values(content, self.params.min_length):
                if self.regex is not None and not self.regex.fullmatch(value):
                    continue
                key = value if self.params.case_sensitive else value.lower()
                if key not in seen:
                    seen.add(key)
                    yield key

    def finish(self, view: EpisodeView) -> CheckResult:
        if self.final is None:
            return None
        event, n = self.final
        text = event.payload.action.text or ""  # type: ignore[attr-defined]
        if not self.params.case_sensitive:
            text = text.lower()
        shown: list[str] = []
        count = 0
        for value in self._values(n):
            if value in text:
                return None
            count += 1
            if len(shown) < 5:
                shown.append(repr(value))
        if count == 0:
            if not self.params.require_tool_results:
                return None
            return Violation.at(
                event,
                "the final answer was given before any tool result value was seen; "
                "expected it to cite a value from a tool result",
            )
        return Violation.at(
            event,
            f"the final answer cites no value of the {count} seen in tool results (e.g. "
            f"{', '.join(shown)}); expected it to repeat one it depends on",
        )


def cites_tool_result(
    *,
    agents: str = "*",
    min_length: int = 4,
    pattern: str | None = None,
    require_tool_results: bool = True,
    case_sensitive: bool = False,
    name: str = "cites_tool_result",
    on_violation: OnViolation = "record",
) -> Contract:
    """Trace: the final answer (the last `action` with text of an agent matching
    `agents`) contains, as a substring, a value of a tool result seen before it (see
    `result_values`)."""
    params = CitesToolResultParams(
        agents=agents,
        min_length=min_length,
        pattern=pattern,
        require_tool_results=require_tool_results,
        case_sensitive=case_sensitive,
    )
    return TraceContract(
        name,
        lambda: _Cites(params),
        kinds=frozenset({"tool_result", "observation", "action"}),
        on_violation=on_violation,
    )


# -- no_role_drift -----------------------------------------------------------------------

DEFAULT_ROLES = ["User", "Assistant", "System", "Human"]


class NoRoleDriftParams(Params):
    roles: list[str] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    """Role labels no agent may speak as (besides the other agents' names)."""
    kinds: list[str] = Field(default_factory=lambda: ["action", "message"])
    """Which texts are read: actions' text and messages to other agents."""


class _RoleDrift:
    def __init__(self, roles: list[str]):
        self.roles = roles
        self.regexes: dict[str, re.Pattern[str] | None] = {}

    def _regex(self, agent: str, view: EpisodeView) -> re.Pattern[str] | None:
        if agent not in self.regexes:
            own = {agent.lower(), root(agent).lower(), agent.rsplit("/", 1)[-1].lower()}
            labels = [x for x in [*self.roles, *view.agents] if x and x.lower() not in own]
            self.regexes[agent] = (
                re.compile(
                    r"^[\s>*_\[(]*(" + "|".join(re.escape(x) for x in labels) + r")[\s*_\])]*:",
                    re.IGNORECASE | re.MULTILINE,
                )
                if labels
                else None
            )
        return self.regexes[agent]

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        p: Any = event.payload
        text = p.content if event.kind == "message" else p.action.text
        if not text:
            return None
        regex = self._regex(event.agent, view)
        found = regex.search(text) if regex is not None else None
        if found is None:
            return None
        return (
            f"agent {event.agent!r} speaks as {found.group(1)!r} (a line starts with "
            f"{found.group(0).strip()!r}); expected it to speak only as itself"
        )

    def finish(self, view: EpisodeView) -> CheckResult:
        return None


def no_role_drift(
    *,
    roles: list[str] | None = None,
    kinds: list[str] | None = None,
    name: str = "no_role_drift",
    on_violation: OnViolation = "record",
) -> Contract:
    """Trace: an agent never speaks as another role: no line of its action text or
    message starts with `<label>:` where label is another agent's name or one of
    `roles` (case-insensitive; leading `>`, `*`, `_`, `[`, `(` and spaces allowed), its
    own name excepted."""
    chosen = DEFAULT_ROLES if roles is None else roles
    return TraceContract(
        name,
        lambda: _RoleDrift(chosen),
        kinds=frozenset(kinds or ("action", "message")),
        on_violation=on_violation,
    )


# -- budget ------------------------------------------------------------------------------


class BudgetParams(Params):
    max_tokens: int | None = Field(None, ge=0)
    """Input + output tokens of all model replies (failed attempts included)."""
    max_model_calls: int | None = Field(None, ge=0)
    """Model requests."""
    max_tool_calls: int | None = Field(None, ge=0)
    """Own tool calls plus calls to the environment's tools."""
    max_cost_usd: float | None = Field(None, ge=0)
    per_agent: bool = False
    """Apply each limit to every top-level agent on its own instead of to the episode."""

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetParams:
        if all(
            v is None
            for v in (self.max_tokens, self.max_model_calls, self.max_tool_calls, self.max_cost_usd)
        ):
            raise ValueError(
                "give at least one of max_tokens, max_model_calls, max_tool_calls, max_cost_usd"
            )
        return self


class _Budget:
    def __init__(self, params: BudgetParams):
        self.p = params
        self.used: dict[str, list[float]] = {}

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        key = root(event.agent) if self.p.per_agent else ""
        used = self.used.get(key)
        if used is None:
            used = self.used[key] = [0, 0, 0, 0.0]
        p: Any = event.payload
        kind = event.kind
        if kind == "model_response":
            used[0] += p.usage.input_tokens + p.usage.output_tokens
            used[3] += p.usage.cost_usd
        elif kind == "model_request":
            used[1] += 1
        else:
            used[2] += len(calls_of(event))
        who = f"agent {key!r}" if key else "the episode"
        for index, (limit, what) in enumerate(
            (
                (self.p.max_tokens, "tokens"),
                (self.p.max_model_calls, "model calls"),
                (self.p.max_tool_calls, "tool calls"),
                (self.p.max_cost_usd, "USD"),
            )
        ):
            if limit is not None and used[index] > limit:
                amount = f"{used[index]:.4f}" if index == 3 else str(int(used[index]))
                return f"{who} used {amount} {what}; the budget allows {limit}"
        return None

    def finish(self, view: EpisodeView) -> CheckResult:
        return None


def budget(
    *,
    max_tokens: int | None = None,
    max_model_calls: int | None = None,
    max_tool_calls: int | None = None,
    max_cost_usd: float | None = None,
    per_agent: bool = False,
    name: str = "budget",
    on_violation: OnViolation = "record",
) -> Contract:
    """Trace: the episode (or each agent, with `per_agent`) stays within the given
    token, model-call, tool-call and cost limits; violated at the first event that
    takes a total over its limit."""
    params = BudgetParams(
        max_tokens=max_tokens,
        max_model_calls=max_model_calls,
        max_tool_calls=max_tool_calls,
        max_cost_usd=max_cost_usd,
        per_agent=per_agent,
    )
    return TraceContract(
        name,
        lambda: _Budget(params),
        kinds=frozenset({"model_response", "model_request", "tool_call", "action"}),
        on_violation=on_violation,
    )
