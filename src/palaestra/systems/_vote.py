"""Choosing one action among members' candidates: majority vote, first valid, or a
judge's pick — and saying in the log what was chosen and why.

A `Decision` names the winning member, the rule that chose it and the vote counts; its
`text()` is the content of the `message` event a system records from its aggregator to
its own agent, e.g.::

    majority: b wins with 2 of 3 votes: 42 | votes: 42 ×2 [b, c]; 41 ×1 [a]
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from palaestra.core import Action
from palaestra.systems._relay import action_key, is_valid, render_action

AGGREGATOR = "aggregator"
"""Name of the internal agent that announces a system's decision (``agent/aggregator``);
a judge operator acts under this name too, so no member may take it."""


@dataclass(frozen=True)
class Vote:
    """The members that proposed one (normalised) action."""

    answer: str
    """The action as rendered from its first proposer."""
    members: list[str]
    """Who proposed it, in member order."""


@dataclass(frozen=True)
class Decision:
    """Which candidate a rule chose."""

    winner: str
    """Name of the member whose action is taken."""
    rule: str
    """`majority`, `first_valid`, `first`, `judge`, or a fallback description."""
    votes: list[Vote] = field(default_factory=list)
    """Valid candidates grouped by normalised action, most votes first (ties: member
    order)."""
    total: int = 0
    """Number of candidates (valid or not)."""

    def text(self, actions: Mapping[str, Action]) -> str:
        """The decision in one line: rule, winner, its action, the vote counts."""
        counts = next((len(v.members) for v in self.votes if self.winner in v.members), 0)
        line = (
            f"{self.rule}: {self.winner} wins with {counts} of {self.total} votes: "
            f"{render_action(actions[self.winner])}"
        )
        if self.votes:
            shown = "; ".join(
                f"{v.answer or '(empty)'} ×{len(v.members)} [{', '.join(v.members)}]"
                for v in self.votes
            )
            line += f" | votes: {shown}"
        return line


def tally(actions: Mapping[str, Action], tools: Sequence[str]) -> list[Vote]:
    """Valid actions grouped by `action_key`, most votes first; ties keep the order in
    which each action was first proposed (member order)."""
    groups: dict[Hashable, list[str]] = {}
    for name, action in actions.items():
        if is_valid(action, tools):
            groups.setdefault(action_key(action), []).append(name)
    ordered = sorted(groups.values(), key=lambda names: -len(names))  # stable: member order
    return [Vote(answer=render_action(actions[names[0]]), members=names) for names in ordered]


def majority(actions: Mapping[str, Action], tools: Sequence[str]) -> Decision:
    """The most common valid action (ties broken by member order); with no valid action
    at all, the first member's."""
    votes = tally(actions, tools)
    winner = votes[0].members[0] if votes else next(iter(actions))
    rule = "majority" if votes else "majority (no valid candidate, first member)"
    return Decision(winner=winner, rule=rule, votes=votes, total=len(actions))


def first_valid(actions: Mapping[str, Action], tools: Sequence[str]) -> Decision:
    """The first member (in order) whose action is valid (`is_valid`); with none, the
    first member's."""
    votes = tally(actions, tools)
    valid = [name for name, action in actions.items() if is_valid(action, tools)]
    winner = valid[0] if valid else next(iter(actions))
    rule = "first_valid" if valid else "first_valid (no valid candidate, first member)"
    return Decision(winner=winner, rule=rule, votes=votes, total=len(actions))


def judge_prompt(task: str, actions: Mapping[str, Action]) -> str:
    """What a judge is asked: the task and the numbered candidates with their authors."""
    lines = [f"{i}. {name}: {render_action(a) or '(empty)'}" for i, (name, a) in
             enumerate(actions.items(), start=1)]  # fmt: skip
    return (
        f"Task:\n{task}\n\nCandidate answers:\n" + "\n".join(lines) + "\n\n"
        f"Reply with the number (1-{len(lines)}) of the best candidate."
    )


_NUMBER = re.compile(r"\d+")


def parse_choice(reply: str, actions: Mapping[str, Action]) -> str | None:
    """The member a judge's reply picks: the first number in it that is a candidate's
    (1-based), else the candidate whose rendered action equals the reply (stripped,
    case-folded); None when the reply names no candidate."""
    names = list(actions)
    for match in _NUMBER.finditer(reply):
        number = int(match.group())
        if 1 <= number <= len(names):
            return names[number - 1]
    wanted = reply.strip().casefold()
    for name, action in actions.items():
        if wanted and render_action(action).strip().casefold() == wanted:
            return name
    return None
