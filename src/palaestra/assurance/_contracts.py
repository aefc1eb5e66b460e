"""Contracts: machine-checkable properties of an episode's event log.

Two kinds, one protocol:

- a **step contract** is a predicate over one event with its context (`EpisodeView`: the
  episode's `episode_start` payload and, when the contract asks for it, the events before
  it); `step_contract(fn)` makes one from `fn(event)` or `fn(event, view)`;
- a **trace contract** is a property of a whole episode. Built-in ones keep a little
  state and look at each event as it is recorded, so that online checking reports the
  first violation when it happens; `trace_contract(fn)` makes one from a function of the
  whole log `fn(events)`, checked when the episode ends.

A check returns `None` or `True` (holds), `False` or a string (violated by the event just
seen; the string says what was wrong and what was expected), or a `Violation` (violated,
blaming the event of its `seq`, e.g. an earlier tool call that never got a result).

Every contract is checked the same way online (`palaestra.runtime` feeds the events as
they are recorded) and offline (`check_episode` over a stored log), so the two give the
same verdicts: events are fed in seq order, except `contract_verdict` events (a check
never sees verdicts) and `episode_end` (the end of the feed: `finish` is called where
`episode_end` would come).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from palaestra.core import EpisodeStart, Event

OnViolation = Literal["record", "end"]
"""What a violation does online: `record` a verdict only, or also `end` the episode
(reason `contract`)."""

SKIPPED_KINDS = frozenset({"contract_verdict", "episode_end"})
"""Event kinds no contract is shown: verdicts themselves, and the end (which `finish`
stands for)."""


@dataclass(frozen=True)
class Violation:
    """A check's finding: what was wrong, and which event is to blame."""

    detail: str
    """What was wrong and what was expected."""
    seq: int | None = None
    """Seq of the violating event; None means the event being checked (at `finish`: the
    last event fed)."""
    step: int | None = None
    """Step of the violating event (found from `seq` where the log is at hand)."""
    agent: str | None = None
    """Agent of the violating event (found from `seq` where the log is at hand)."""

    @classmethod
    def at(cls, event: Event, detail: str) -> Violation:
        """A violation blaming `event`."""
        return cls(detail, event.seq, event.step, event.agent)


CheckResult = Violation | str | bool | None
"""What a check returns: None/True (holds), False/str/Violation (violated)."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one contract on one episode."""

    contract: str
    """Contract name."""
    passed: bool
    """True when the contract held over the whole episode (or up to where it ended)."""
    episode_id: str = ""
    seq: int | None = None
    """Seq of the first violating event; None when passed."""
    step: int | None = None
    """Environment step of the first violating event."""
    agent: str | None = None
    """Agent of the first violating event (`env` for the environment's own)."""
    detail: str = ""
    """What was wrong and what was expected (empty when passed)."""


@dataclass
class EpisodeView:
    """What a check sees besides the event: the episode so far."""

    episode_id: str = ""
    start: EpisodeStart | None = None
    """The `episode_start` payload (None before it is seen)."""
    events: list[Event] = field(default_factory=list)
    """Events before the current one (verdicts left out). Kept only when some contract
    has `history = True`; otherwise empty (built-in contracts keep their own state)."""
    last: Event | None = None
    """The last event fed (the current one while it is checked)."""

    @property
    def agents(self) -> list[str]:
        """The episode's agents, from `episode_start`."""
        return list(self.start.agents) if self.start is not None else []


@runtime_checkable
class ContractCheck(Protocol):
    """One contract's check of one episode: fed each event, then finished."""

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        """Look at `event` (the view holds what came before it)."""
        ...

    def finish(self, view: EpisodeView) -> CheckResult:
        """The episode is over (no more events): a violation only now decidable."""
        ...


@runtime_checkable
class Contract(Protocol):
    """A named property of episodes; `start()` gives a fresh check per episode."""

    name: str
    kinds: frozenset[str] | None
    """Event kinds `check` needs to see (None: all); others are never built for it."""
    history: bool
    """Whether `check` reads `view.events` (costs memory: every event is kept)."""
    on_violation: OnViolation

    def start(self) -> ContractCheck: ...


class _StepCheck:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Event, EpisodeView], CheckResult]):
        self.fn = fn

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        return self.fn(event, view)

    def finish(self, view: EpisodeView) -> CheckResult:
        return None


@dataclass
class StepContract:
    """A predicate over single events (see `step_contract`)."""

    name: str
    fn: Callable[[Event, EpisodeView], CheckResult]
    kinds: frozenset[str] | None = None
    history: bool = False
    on_violation: OnViolation = "record"

    def start(self) -> ContractCheck:
        return _StepCheck(self.fn)


class _WholeLogCheck:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[list[Event]], CheckResult]):
        self.fn = fn

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        return None

    def finish(self, view: EpisodeView) -> CheckResult:
        return self.fn(view.events)


@dataclass
class TraceContract:
    """A property of a whole episode. With `make_check` it is checked incrementally
    (a fresh stateful check per episode); with `fn` (see `trace_contract`) once, over
    the whole log, when the episode ends."""

    name: str
    make_check: Callable[[], ContractCheck]
    kinds: frozenset[str] | None = None
    history: bool = False
    on_violation: OnViolation = "record"

    def start(self) -> ContractCheck:
        return self.make_check()


def _name_of(fn: Callable[..., Any], name: str | None) -> str:
    return name or getattr(fn, "__name__", None) or type(fn).__name__


def _takes_view(fn: Callable[..., Any]) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        return True
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def step_contract(
    fn: Callable[..., CheckResult] | None = None,
    *,
    name: str | None = None,
    kinds: Iterable[str] | None = None,
    on_violation: OnViolation = "record",
) -> Any:
    """A step contract from `fn(event)` or `fn(event, view)`; usable as a decorator
    (`@step_contract` or `@step_contract(name=..., kinds=[...])`).

    `kinds` limits the events `fn` is shown (cheaper online); a function taking the view
    gets `view.events` filled (the events before the current one)."""

    def make(f: Callable[..., CheckResult]) -> StepContract:
        wants_view = _takes_view(f)
        call: Callable[[Event, EpisodeView], CheckResult] = (
            f if wants_view else (lambda event, view: f(event))
        )
        return StepContract(
            name=_name_of(f, name),
            fn=call,
            kinds=frozenset(kinds) if kinds is not None else None,
            history=wants_view,
            on_violation=on_violation,
        )

    return make if fn is None else make(fn)


def trace_contract(
    fn: Callable[[list[Event]], CheckResult] | None = None,
    *,
    name: str | None = None,
    on_violation: OnViolation = "record",
) -> Any:
    """A trace contract from `fn(events)`, a function of the whole episode's log
    (verdicts and `episode_end` left out) checked when it ends; usable as a decorator.
    Return a `Violation(detail, seq=...)` to name the violating event (else the last
    event is blamed). For a contract checked as events arrive, build a `TraceContract`
    with a `make_check` returning a `ContractCheck`."""

    def make(f: Callable[[list[Event]], CheckResult]) -> TraceContract:
        return TraceContract(
            name=_name_of(f, name),
            make_check=lambda: _WholeLogCheck(f),
            kinds=frozenset(),
            history=True,
            on_violation=on_violation,
        )

    return make if fn is None else make(fn)


def as_violation(result: CheckResult, contract: str) -> Violation | None:
    """A check's result as a `Violation` (None when the contract holds)."""
    if result is None or result is True:
        return None
    if result is False:
        return Violation(f"contract {contract!r} does not hold")
    if isinstance(result, str):
        return Violation(result)
    if isinstance(result, Violation):
        return result
    raise TypeError(
        f"contract {contract!r} returned {type(result).__name__}; expected None or a bool "
        "(holds / violated), a str (what was violated) or a Violation"
    )
