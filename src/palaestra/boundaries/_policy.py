"""Governance policies as data: the pydantic models a `governance:` block is validated into.

```yaml
governance:
  name: support-desk
  default: allow                 # what happens to a call no rule or limit objects to
  agents:                        # capability limits, by agent-name glob ("*": everyone)
    agent:
      tools: ["find_*", "get_*", "list_*", "cancel_pending_order", "send_email"]
      deny: ["transfer_*"]
      arguments:                 # per tool (glob), per argument: bounds that must hold
        send_email: {to: {email_domain_in: [example.com]}}   # every recipient
        issue_refund: {amount: {maximum: 25}}
      rate:                      # calls per episode / per step, per tool glob
        cancel_pending_order: {per_episode: 1}
        "*": {per_step: 4}
      spend:                     # the sum of an argument over an episode
        refunds: {tools: [issue_refund], argument: amount, per_episode: 50}
  rules:                         # ordered; see docs/governance.md
    - name: redact-emails-in-notes
      tools: [add_order_note]
      decision: rewrite
      rewrite: [{redact: {argument: note, pattern: '[\\w.+-]+@[\\w-]+(\\.[\\w-]+)+'}}]
    - name: no-external-mail
      tools: [send_email]
      unless: {to: {email_domain_in: [example.com]}}   # some recipient is not ours
      decision: block
      reason: mail may only go to customers' addresses
  python: ["my_package.hooks:check"]   # hooks, called after the rules
```

`palaestra.boundaries.Governor` evaluates a `Policy`; this module only describes one.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from palaestra.boundaries._addresses import DEFAULT_SPLIT, parse_address

Outcome = Literal["allow", "rewrite", "block"]
"""What governance decided about one tool call or reply."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN compares false: no limit


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


class ArgumentConstraint(_Config):
    """Bounds on one argument value (JSON-schema-like). Every bound given must hold;
    a missing argument satisfies every bound unless `required`.

    For text that names several things (recipients, ids), prefer the whole-value and
    per-item bounds (`match`, `email_domain_in`, `items`) to `pattern`: a regex searched
    in ``"evil@x.net, a@example.com"`` finds ``@example\\.com$``.
    """

    required: bool = False
    """The argument must be present."""
    type: Literal["string", "number", "integer", "boolean", "array", "object"] | None = None
    """JSON type the value must have."""
    enum: list[Any] | None = None
    """The value must be one of these."""
    match: str | None = None
    """A string value must match this regex as a whole (`re.fullmatch`: no anchors
    needed, and ``$`` cannot end early before a newline)."""
    pattern: str | None = None
    """A string value must contain a match of this regex (`re.search`, anywhere: a
    weaker test than `match`; anchor with ``\\A`` and ``\\Z``)."""
    not_pattern: str | None = None
    """A string value must contain no match of this regex."""
    email_domain_in: list[str] | None = Field(None, min_length=1)
    """The value (a string, or an array of strings) names e-mail addresses, at least one,
    every one readable (``a@d`` or ``Name <a@d>``, separated by commas, semicolons or
    line breaks) and in one of these domains (``.d`` or ``*.d``: d and its subdomains).
    Case and a trailing dot do not matter; anything unreadable violates it
    (`palaestra.boundaries._addresses`)."""
    items: ArgumentConstraint | None = None
    """The value's items (a JSON array's elements, or a string cut at `split`) must each
    satisfy this constraint; there must be at least one."""
    split: str = DEFAULT_SPLIT
    """Where `items` cuts a string (a regex; default commas, semicolons, whitespace)."""
    minimum: float | None = None
    """A number must be >= this."""
    maximum: float | None = None
    """A number must be <= this (e.g. the largest refund an agent may give)."""
    min_length: int | None = Field(None, ge=0)
    """A string or array must have at least this length."""
    max_length: int | None = Field(None, ge=0)
    """A string or array must have at most this length."""

    @field_validator("pattern", "not_pattern", "match", "split")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return _check_regex(value)

    @field_validator("email_domain_in")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or ():
            bare = entry.lower().rstrip(".").removeprefix("*").removeprefix(".")
            if parse_address(f"a@{bare}") is None:
                raise ValueError(
                    f"email_domain_in: {entry!r} is not a domain (e.g. example.com, or "
                    ".example.com for it and its subdomains)"
                )
        return value


class RateLimit(_Config):
    """How many calls (of the tools a glob matches) an agent may make."""

    per_episode: int | None = Field(None, ge=0)
    per_step: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> RateLimit:
        if self.per_episode is None and self.per_step is None:
            raise ValueError("a rate limit needs per_episode, per_step or both")
        return self


class SpendLimit(_Config):
    """The sum of a numeric argument over the calls of an episode (e.g. refund amounts)."""

    tools: list[str] = Field(min_length=1)
    """Tool-name globs whose calls count."""
    argument: str
    """The argument summed (a missing or non-numeric value counts 0)."""
    per_episode: float = Field(ge=0)
    """The most the calls of one episode may add up to."""


class Capability(_Config):
    """What the agents a glob matches may do: tools, argument bounds, rate and spend."""

    tools: list[str] | None = None
    """Allowed tool-name globs; None allows every tool (then `deny` narrows)."""
    deny: list[str] = Field(default_factory=list)
    """Forbidden tool-name globs (win over `tools`)."""
    arguments: dict[str, dict[str, ArgumentConstraint]] = Field(default_factory=dict)
    """Per tool-name glob, per argument: constraints every call must satisfy."""
    rate: dict[str, RateLimit] = Field(default_factory=dict)
    """Per tool-name glob: call-count limits (`"*"` counts every call)."""
    spend: dict[str, SpendLimit] = Field(default_factory=dict)
    """Named spend limits."""


class Redact(_Config):
    """Replace every match of `pattern` in a string argument (or a reply's text)."""

    pattern: str
    argument: str | None = None
    """The argument to redact; None: every string in the arguments (nested too)."""
    replacement: str = "[REDACTED]"

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        _check_regex(value)
        return value


class Clamp(_Config):
    """Bring a numeric argument into [minimum, maximum]."""

    argument: str
    minimum: float | None = None
    maximum: float | None = None


class SetValue(_Config):
    """Replace (or add) an argument's value."""

    argument: str
    value: Any


class RewriteOp(_Config):
    """One edit of a rewrite rule: exactly one of `redact`, `clamp`, `drop`, `set`."""

    redact: Redact | None = None
    clamp: Clamp | None = None
    drop: str | None = None
    """Name of an argument to remove."""
    set: SetValue | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RewriteOp:
        given = [k for k in ("redact", "clamp", "drop", "set") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a rewrite step takes exactly one of redact, clamp, drop, set; "
                f"got {given or 'none'}"
            )
        return self


class Rule(_Config):
    """An ordered rule: when it matches a call (or reply), it allows, rewrites or blocks."""

    name: str
    """Named in every `governance` event the rule decides."""
    decision: Outcome
    on: Literal["tool_call", "reply"] = "tool_call"
    """What the rule looks at: tool calls, or the text replies of agents (`text`)."""
    tools: list[str] = Field(default_factory=lambda: ["*"])
    """Tool-name globs the rule applies to (ignored for replies)."""
    agents: list[str] = Field(default_factory=lambda: ["*"])
    """Agent-name globs the rule applies to."""
    when: dict[str, ArgumentConstraint] = Field(default_factory=dict)
    """The rule matches only if every named argument satisfies its condition (a reply's
    text is the argument `text`); empty: always."""
    unless: dict[str, ArgumentConstraint] = Field(default_factory=dict)
    """The rule matches only if some named argument is missing or violates its
    condition (``block ... unless: {to: {email_domain_in: [example.com]}}`` blocks every
    call with a recipient outside example.com, or none); empty: always."""
    reason: str = ""
    """Told to the agent when the rule blocks; recorded with every decision."""
    rewrite: list[RewriteOp] = Field(default_factory=list)
    """The edits of a `rewrite` rule, applied in order."""

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads the key `on` as the boolean true: `on: reply` as written
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if key is True else key): value for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _rewrite_needs_ops(self) -> Rule:
        if self.decision == "rewrite" and not self.rewrite:
            raise ValueError(f"rule {self.name!r}: decision rewrite needs `rewrite:` steps")
        if self.decision != "rewrite" and self.rewrite:
            raise ValueError(f"rule {self.name!r}: `rewrite:` steps need decision: rewrite")
        return self


class Policy(_Config):
    """A governance policy: capability limits per agent, ordered rules, Python hooks."""

    name: str = "policy"
    enabled: bool = True
    """False switches governance off (e.g. one job overriding the experiment's policy)."""
    default: Literal["allow", "block"] = "allow"
    """Outcome of a call that no rule decides and no limit blocks."""
    agents: dict[str, Capability] = Field(default_factory=dict)
    """Capability limits by agent-name glob; every matching entry applies."""
    rules: list[Rule] = Field(default_factory=list)
    python: list[str] = Field(default_factory=list)
    """Hooks `package.module:function`, called in order after the rules: see
    `palaestra.boundaries.Governor`."""

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        names = [rule.name for rule in rules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two rules are named {twice[0]!r}; give each its own name")
        return rules

    @field_validator("python")
    @classmethod
    def _import_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            module, _, attr = path.partition(":")
            if not module or not attr:
                raise ValueError(f"expected a hook 'package.module:function', got {path!r}")
        return paths
