"""The shared ground of the evidence rules: `Finding` (one piece of evidence and its
label) and `Log` (a finished episode's `palaestra.core.EpisodeLog` with the views the
rules share: its end, tool results from both channels, who acted when).

Tool results come from two channels: an operator's own tools (`tool_call` /
`tool_result` events) and an environment's tools, whose calls are `action`s and whose
results arrive in the agent's next observation as `data["tool_results"]` entries
(`id`, `name`, `content`, `error`), the convention of the built-in tool envs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from palaestra.assurance._taxonomy import Level, level_of
from palaestra.core import (
    EpisodeEnd,
    EpisodeLog,
    Event,
    ObservationEvent,
    ScoreEvent,
    ToolResultEvent,
)

Confidence = Literal["high", "medium", "low"]
"""How strongly the evidence supports the label (ordinal, not a calibrated probability)."""

CONFIDENCE_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Finding:
    """One piece of evidence: the event it points at, its label, and why."""

    seq: int
    """Seq of the event blamed."""
    step: int
    agent: str
    kind: str
    """Kind of the event blamed."""
    category: str
    """A category of `TAXONOMY`."""
    decisive: bool
    """Whether the outcome could not be won back after this event (see module doc)."""
    confidence: Confidence
    explanation: str
    injected: bool = False
    """Whether an injected `fault` is the cause."""

    @property
    def level(self) -> Level:
        return level_of(self.category)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "step": self.step,
            "agent": self.agent,
            "kind": self.kind,
            "level": self.level,
            "category": self.category,
            "decisive": self.decisive,
            "confidence": self.confidence,
            "explanation": self.explanation,
            "injected": self.injected,
        }


@dataclass(frozen=True)
class ToolOutcome:
    """A tool result from either channel: an operator's `tool_result`, or an entry of an
    environment observation's `data.tool_results`."""

    seq: int
    """Seq of the event that shows the result."""
    call: Event
    """The event that made the call (`tool_call` or `action`); the result's event when
    the call cannot be found."""
    agent: str
    name: str
    ok: bool
    content: str


def short(text: str, limit: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Log(EpisodeLog):
    """A finished episode's `EpisodeLog` with the views the finders share: its end (never
    None here), the environment's own score, tool outcomes from both channels, who acted
    when. Every view reads the `EpisodeLog` indexes; none indexes the events again."""

    def __init__(self, events: Iterable[Event]) -> None:
        super().__init__(events)
        if self._end_event is None:
            raise ValueError(
                f"episode {self.episode_id!r} has no episode_end event: it is "
                "still running or its log was cut off"
            )

    @property
    def end_event(self) -> Event:
        """The `episode_end` event (a `Log` is of a finished episode)."""
        event = self._end_event
        assert event is not None  # checked when built
        return event

    @property
    def end(self) -> EpisodeEnd:
        """The episode's end (a `Log` is of a finished episode)."""
        end = super().end
        assert end is not None  # checked when built
        return end

    @property
    def score(self) -> ScoreEvent | None:
        """The environment's own score (`env_score`)."""
        return self.env_score

    @cached_property
    def tools(self) -> tuple[ToolOutcome, ...]:
        """Every tool result of either channel, in log order."""
        return tuple(self._tool_outcomes())

    def _tool_outcomes(self) -> Iterator[ToolOutcome]:
        for event in self.of_kind("tool_result", "observation"):
            p = event.payload
            if isinstance(p, ToolResultEvent):
                call = self.get(event.parent)
                yield ToolOutcome(
                    event.seq, call or event, event.agent, p.name, not p.is_error, p.content
                )
            elif isinstance(p, ObservationEvent):
                results = p.observation.data.get("tool_results")
                if not isinstance(results, list):
                    continue
                for r in results:
                    if not isinstance(r, dict):
                        continue
                    call = self.action_with_call(event.agent, str(r.get("id", "")), event.seq)
                    content = r.get("content")
                    if content is None:
                        content = json.dumps({k: v for k, v in r.items() if k != "id"})[:300]
                    yield ToolOutcome(
                        event.seq,
                        call or event,
                        event.agent,
                        str(r.get("name", "")),
                        not r.get("error"),
                        str(content),
                    )

    def acted_after(self, agent: str, seq: int) -> bool:
        """Whether `agent` decided anything (model call, tool call, action) after `seq`."""
        return any(
            e.seq > seq and e.kind in ("model_request", "tool_call", "action")
            for e in self.of_agent(agent)
        )

    def tool_recovered(self, agent: str, name: str, seq: int, *, any_tool: bool = False) -> bool:
        """Whether `agent` later got a successful result of tool `name` (any tool)."""
        return any(
            t.seq > seq and t.agent == agent and t.ok and (any_tool or t.name == name)
            for t in self.tools
        )

    def action_of(self, agent: str, step: int) -> Event | None:
        """`agent`'s action event at `step`, if any."""
        for e in self.steps.get(step, ()):
            if e.kind == "action" and e.agent == agent:
                return e
        return None


def finding(
    event: Event,
    category: str,
    decisive: bool,
    confidence: Confidence,
    explanation: str,
    *,
    injected: bool = False,
) -> Finding:
    """A finding that blames `event`."""
    return Finding(
        event.seq,
        event.step,
        event.agent,
        event.kind,
        category,
        decisive,
        confidence,
        explanation,
        injected,
    )
