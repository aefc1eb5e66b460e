"""Governance: deciding, before it executes, whether an agent's tool call (or reply) is
allowed, rewritten or blocked, and recording the decision as a `governance` event.

Evaluation order for one request (a tool call, or a text reply when the policy has
reply rules or hooks):

1. **Rules**, in order, among those whose `on`, `tools`, `agents` and `when` match:
   `block` stops with a block; `allow` stops the rules (and skips the hooks); `rewrite`
   edits the arguments and evaluation goes on with the next rule, on the edited call.
2. **Python hooks**, in order (unless an `allow` rule fired): `hook(request)` returns a
   `Decision` or None (no opinion); sync or async. A block stops; a rewrite replaces the
   arguments and goes on; an allow stops the hooks.
3. **Capability limits** of every `agents:` entry matching the agent, on the (possibly
   rewritten) call: allowed / denied tools, argument constraints, rate limits, spend
   limits. Limits are a fence no rule lifts: an `allow` rule does not bypass them, but a
   rewrite (e.g. a clamp) can bring a call within them.
4. Otherwise the policy's `default`.

Rate and spend limits count the calls that were finally allowed or rewritten. Their state
is kept per (episode, agent), so one `Governor` serves concurrent episodes.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from palaestra.boundaries._addresses import address_list, domain_allowed, items_of
from palaestra.boundaries._policy import (
    ArgumentConstraint,
    Capability,
    Outcome,
    Policy,
    RewriteOp,
    Rule,
)
from palaestra.core import ConfigError, Context, Governance, import_object

REPLY = "reply"
"""The target name of a governed text reply."""


@dataclass(frozen=True)
class GovernanceRequest:
    """What an agent tries to do, as governance (and a Python hook) sees it."""

    agent: str
    """The agent's name (internal agents are `parent/member`)."""
    name: str
    """The tool's name, or `"reply"` for a text reply."""
    arguments: dict[str, Any]
    """The call's arguments; a reply's are `{"text": ...}`."""
    kind: Literal["tool_call", "reply"] = "tool_call"
    boundary: Literal["env", "own"] = "env"
    """`env`: a call to an environment tool (an action); `own`: an operator's own tool."""
    episode_id: str = ""
    step: int = 0


@dataclass(frozen=True)
class Decision:
    """A decision of a rule, a hook or the whole policy."""

    decision: Outcome
    rule: str
    """What decided (a rule name, `python:module:function`, `capability:...`, `default`)."""
    reason: str = ""
    arguments: dict[str, Any] | None = None
    """The arguments to use instead (a rewrite); None keeps them."""

    @classmethod
    def allow(cls, rule: str = "", reason: str = "") -> Decision:
        return cls("allow", rule, reason)

    @classmethod
    def block(cls, reason: str, rule: str = "") -> Decision:
        return cls("block", rule, reason)

    @classmethod
    def rewrite(cls, arguments: dict[str, Any], reason: str = "", rule: str = "") -> Decision:
        return cls("rewrite", rule, reason, dict(arguments))


@dataclass(frozen=True)
class GovernanceVerdict:
    """The policy's final word on one request."""

    decision: Outcome
    rule: str
    """The rule that fired: the blocking one, the first rewriting one, the allowing one."""
    reason: str
    original: dict[str, Any]
    arguments: dict[str, Any]
    """The arguments to execute with (equal to `original` unless rewritten)."""
    rewrites: list[str] = field(default_factory=list)
    """Every rule or hook that changed the arguments, in order."""

    @property
    def message(self) -> str:
        """What the agent is told about a block."""
        return f"blocked by governance rule {self.rule}: {self.reason or 'not allowed'}"


Hook = Callable[[GovernanceRequest], Any]
_MAX_SESSIONS = 4096
"""Per-(episode, agent) counters kept; the oldest are forgotten beyond this."""


@dataclass
class _Session:
    episode: dict[str, int] = field(default_factory=dict)
    step: dict[tuple[int, str], int] = field(default_factory=dict)
    spend: dict[str, float] = field(default_factory=dict)


class Governor:
    """Evaluates a `Policy` (see the module docstring) and records its decisions."""

    def __init__(self, policy: Policy | Mapping[str, Any]):
        self.policy = policy if isinstance(policy, Policy) else Policy.model_validate(policy)
        self._hooks = [(path, _import_hook(path)) for path in self.policy.python]
        self._sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()

    @property
    def governs_replies(self) -> bool:
        """Whether text replies are decided too (reply rules or hooks exist)."""
        return bool(self._hooks) or any(r.on == "reply" for r in self.policy.rules)

    def _session(self, request: GovernanceRequest) -> _Session:
        key = (request.episode_id, request.agent)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = _Session()
            while len(self._sessions) > _MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session

    async def decide(self, request: GovernanceRequest) -> GovernanceVerdict:
        """The verdict on `request`; counts it against rate and spend limits unless it
        is blocked."""
        original = dict(request.arguments)
        arguments = dict(original)
        rewrites: list[str] = []
        reasons: list[str] = []
        allowed_by: Decision | None = None
        for rule in self.policy.rules:
            if not _rule_matches(rule, request, arguments):
                continue
            if rule.decision == "block":
                return GovernanceVerdict(
                    "block", rule.name, rule.reason, original, arguments, rewrites
                )
            if rule.decision == "allow":
                allowed_by = Decision.allow(rule.name, rule.reason)
                break
            edited = apply_rewrite(rule.rewrite, arguments, reply=request.kind == "reply")
            if edited != arguments:
                arguments = edited
                rewrites.append(rule.name)
                reasons.append(rule.reason)
        if allowed_by is None:
            for path, hook in self._hooks:
                current = GovernanceRequest(**{**request.__dict__, "arguments": dict(arguments)})
                decision = hook(current)
                if inspect.isawaitable(decision):
                    decision = await decision
                if decision is None:
                    continue
                if not isinstance(decision, Decision):
                    raise TypeError(
                        f"governance hook {path!r} returned {type(decision).__name__}; "
                        "expected palaestra.boundaries.Decision or None"
                    )
                name = decision.rule or f"python:{path}"
                if decision.decision == "block":
                    return GovernanceVerdict(
                        "block", name, decision.reason, original, arguments, rewrites
                    )
                if decision.decision == "allow":
                    allowed_by = Decision.allow(name, decision.reason)
                    break
                if decision.arguments is not None and decision.arguments != arguments:
                    arguments = dict(decision.arguments)
                    rewrites.append(name)
                    reasons.append(decision.reason)
        if request.kind == "tool_call":
            blocked = self._check_limits(request, arguments)
            if blocked is not None:
                return GovernanceVerdict(
                    "block", blocked.rule, blocked.reason, original, arguments, rewrites
                )
        if rewrites:
            verdict = GovernanceVerdict(
                "rewrite", rewrites[0], "; ".join(r for r in reasons if r), original,
                arguments, rewrites,
            )  # fmt: skip
        elif allowed_by is not None:
            verdict = GovernanceVerdict(
                "allow", allowed_by.rule, allowed_by.reason, original, arguments
            )
        elif self.policy.default == "block":
            return GovernanceVerdict(
                "block", "default", "the policy allows only what a rule allows", original,
                arguments,
            )  # fmt: skip
        else:
            verdict = GovernanceVerdict("allow", "default", "", original, arguments)
        if request.kind == "tool_call":
            self._count(request, arguments)
        return verdict

    def _capabilities(self, agent: str) -> list[tuple[str, Capability]]:
        return [(glob, cap) for glob, cap in self.policy.agents.items() if _glob(agent, [glob])]

    def _check_limits(
        self, request: GovernanceRequest, arguments: dict[str, Any]
    ) -> Decision | None:
        tool = request.name
        session = self._session(request)
        for glob, cap in self._capabilities(request.agent):
            where = f"capability:{glob}"
            if cap.tools is not None and not _glob(tool, cap.tools):
                allowed = ", ".join(cap.tools) or "none"
                return Decision.block(
                    f"agent {request.agent!r} may not call {tool!r} (allowed tools: {allowed})",
                    f"{where}:tools",
                )
            if _glob(tool, cap.deny):
                return Decision.block(
                    f"tool {tool!r} is denied to agent {request.agent!r}", f"{where}:deny"
                )
            for tool_glob, constraints in cap.arguments.items():
                if not _glob(tool, [tool_glob]):
                    continue
                for name, constraint in constraints.items():
                    problem = check_argument(constraint, name, arguments)
                    if problem:
                        return Decision.block(problem, f"{where}:arguments.{tool_glob}.{name}")
            for tool_glob, limit in cap.rate.items():
                if not _glob(tool, [tool_glob]):
                    continue
                used = session.episode.get(tool_glob, 0)
                if limit.per_episode is not None and used >= limit.per_episode:
                    return Decision.block(
                        f"at most {limit.per_episode} call(s) of {tool_glob!r} per episode",
                        f"{where}:rate.{tool_glob}",
                    )
                used = session.step.get((request.step, tool_glob), 0)
                if limit.per_step is not None and used >= limit.per_step:
                    return Decision.block(
                        f"at most {limit.per_step} call(s) of {tool_glob!r} per step",
                        f"{where}:rate.{tool_glob}",
                    )
            for name, spend in cap.spend.items():
                if not _glob(tool, spend.tools):
                    continue
                amount = _number(arguments.get(spend.argument))
                spent = session.spend.get(name, 0.0)
                if spent + amount > spend.per_episode + 1e-9:
                    left = max(spend.per_episode - spent, 0.0)
                    return Decision.block(
                        f"spend limit {name!r}: {spend.argument}={amount:g} exceeds what is "
                        f"left this episode ({left:g} of {spend.per_episode:g})",
                        f"{where}:spend.{name}",
                    )
        return None

    def _count(self, request: GovernanceRequest, arguments: dict[str, Any]) -> None:
        session = self._session(request)
        for _, cap in self._capabilities(request.agent):
            for tool_glob in cap.rate:
                if _glob(request.name, [tool_glob]):
                    session.episode[tool_glob] = session.episode.get(tool_glob, 0) + 1
                    key = (request.step, tool_glob)
                    session.step[key] = session.step.get(key, 0) + 1
            for name, spend in cap.spend.items():
                if _glob(request.name, spend.tools):
                    amount = _number(arguments.get(spend.argument))
                    session.spend[name] = session.spend.get(name, 0.0) + amount


def record(
    ctx: Context, request: GovernanceRequest, verdict: GovernanceVerdict, *, parent: int | None
) -> int:
    """Emit the `governance` event of `verdict` into the agent's log; a rewrite carries
    the original and the rewritten call."""
    detail: dict[str, Any] = {"boundary": request.boundary, "kind": request.kind}
    if verdict.reason:
        detail["reason"] = verdict.reason
    if verdict.decision == "rewrite":
        detail["original"] = {"name": request.name, "arguments": verdict.original}
        detail["rewritten"] = {"name": request.name, "arguments": verdict.arguments}
        detail["rules"] = list(verdict.rewrites)
    else:
        detail["arguments"] = verdict.original
    if verdict.decision == "block":
        detail["message"] = verdict.message
    return ctx.emit(
        Governance(
            decision=verdict.decision, rule=verdict.rule, target=request.name, detail=detail
        ),
        parent=parent,
    )


def check_argument(constraint: ArgumentConstraint, name: str, arguments: Mapping[str, Any]) -> str:
    """Why argument `name` violates `constraint` (empty when it holds)."""
    if name not in arguments:
        return f"argument {name!r} is required" if constraint.required else ""
    value = arguments[name]
    if constraint.type is not None and not _has_type(value, constraint.type):
        return f"argument {name!r} must be of type {constraint.type}, got {value!r}"
    if constraint.enum is not None and value not in constraint.enum:
        return f"argument {name!r} must be one of {constraint.enum}, got {value!r}"
    if constraint.match is not None and not (
        isinstance(value, str) and re.fullmatch(constraint.match, value)
    ):
        return f"argument {name!r} must match {constraint.match!r} as a whole, got {value!r}"
    if isinstance(value, str):
        if constraint.pattern is not None and not re.search(constraint.pattern, value):
            return f"argument {name!r} must match {constraint.pattern!r}, got {value!r}"
        if constraint.not_pattern is not None and re.search(constraint.not_pattern, value):
            return f"argument {name!r} must not match {constraint.not_pattern!r}"
    if constraint.email_domain_in is not None:
        problem = _check_recipients(name, value, constraint.email_domain_in)
        if problem:
            return problem
    if constraint.items is not None:
        items = items_of(value, constraint.split)
        if not items:
            return f"argument {name!r} must hold at least one item, got {value!r}"
        for index, item in enumerate(items):
            problem = check_argument(
                constraint.items, f"{name}[{index}]", {f"{name}[{index}]": item}
            )
            if problem:
                return problem
    if isinstance(value, int | float) and not isinstance(value, bool):
        if constraint.minimum is not None and value < constraint.minimum:
            return f"argument {name!r} must be at least {constraint.minimum:g}, got {value:g}"
        if constraint.maximum is not None and value > constraint.maximum:
            return f"argument {name!r} must be at most {constraint.maximum:g}, got {value:g}"
    if isinstance(value, str | list):
        if constraint.min_length is not None and len(value) < constraint.min_length:
            return f"argument {name!r} must have length >= {constraint.min_length}"
        if constraint.max_length is not None and len(value) > constraint.max_length:
            return f"argument {name!r} must have length <= {constraint.max_length}"
    return ""


def _check_recipients(name: str, value: Any, domains: list[str]) -> str:
    addresses = address_list(value)
    if addresses is None:
        return (
            f"argument {name!r} must be one or more plain e-mail addresses (a@domain or "
            f"Name <a@domain>, separated by commas), got {value!r}"
        )
    outside = [
        f"{local}@{domain}" for local, domain in addresses if not domain_allowed(domain, domains)
    ]
    if outside:
        return (
            f"argument {name!r}: {', '.join(outside)} outside the allowed domains "
            f"({', '.join(domains)})"
        )
    return ""


def apply_rewrite(
    ops: list[RewriteOp], arguments: dict[str, Any], *, reply: bool = False
) -> dict[str, Any]:
    """`arguments` after the edits `ops` (a new dict; the input is not changed). For a
    reply (`{"text": ...}`), a redact without `argument` edits the text."""
    out = dict(arguments)
    for op in ops:
        if op.redact is not None:
            pattern = re.compile(op.redact.pattern)
            names = [op.redact.argument] if op.redact.argument else list(out)
            for name in names:
                if name in out:
                    out[name] = _redact(out[name], pattern, op.redact.replacement)
        elif op.clamp is not None:
            value = out.get(op.clamp.argument)
            if isinstance(value, int | float) and not isinstance(value, bool):
                low, high = op.clamp.minimum, op.clamp.maximum
                clamped = value
                if high is not None and clamped > high:
                    clamped = high
                if low is not None and clamped < low:
                    clamped = low
                if clamped != value:
                    out[op.clamp.argument] = clamped
        elif op.drop is not None:
            out.pop(op.drop, None)
        elif op.set is not None:
            out[op.set.argument] = op.set.value
    return out


def _redact(value: Any, pattern: re.Pattern[str], replacement: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(replacement, value)
    if isinstance(value, list):
        return [_redact(v, pattern, replacement) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, pattern, replacement) for k, v in value.items()}
    return value


def _rule_matches(rule: Rule, request: GovernanceRequest, arguments: dict[str, Any]) -> bool:
    if rule.on != request.kind:
        return False
    if request.kind == "tool_call" and not _glob(request.name, rule.tools):
        return False
    if not _glob(request.agent, rule.agents):
        return False
    for name, condition in rule.when.items():
        if name not in arguments or check_argument(condition, name, arguments):
            return False
    if rule.unless:
        return any(
            name not in arguments or check_argument(condition, name, arguments)
            for name, condition in rule.unless.items()
        )
    return True


def _glob(name: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in globs)


def _has_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0


def _import_hook(path: str) -> Hook:
    try:
        obj = import_object(path)
    except ConfigError as exc:
        raise ConfigError(f"governance hook {path!r}: {exc}") from None
    if not callable(obj):
        raise ConfigError(f"governance hook {path!r} is not callable")
    hook: Hook = obj
    return hook
