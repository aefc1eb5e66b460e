"""How a governance policy decided during a run: the distribution of outcomes (allow,
rewrite, block) per agent and rule, a pure function of the `governance` events.

```python
from palaestra.assurance import governance_report
report = governance_report(store.iter_events(run_id))
print(report.render())
```
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import Event, Governance

OUTCOMES = ("allow", "rewrite", "block")


@dataclass(frozen=True)
class GovernanceRow:
    """The decisions of one rule for one agent."""

    agent: str
    rule: str
    allow: int = 0
    rewrite: int = 0
    block: int = 0
    targets: tuple[str, ...] = ()
    """Tool names (or `reply`) the rule decided on, sorted."""

    @property
    def total(self) -> int:
        return self.allow + self.rewrite + self.block


@dataclass
class GovernanceReport:
    """Outcome counts of every (agent, rule), and totals."""

    rows: list[GovernanceRow] = field(default_factory=list)
    """Sorted by agent, then rule."""
    episodes: int = 0
    """Episodes with at least one governance event."""
    blocked_episodes: int = 0
    """Episodes with at least one block."""

    @property
    def totals(self) -> dict[str, int]:
        """Decisions by outcome over the whole run."""
        return {o: sum(getattr(r, o) for r in self.rows) for o in OUTCOMES}

    def by_agent(self) -> dict[str, dict[str, int]]:
        """Decisions by outcome, per agent."""
        out: dict[str, dict[str, int]] = {}
        for row in self.rows:
            counts = out.setdefault(row.agent, dict.fromkeys(OUTCOMES, 0))
            for outcome in OUTCOMES:
                counts[outcome] += getattr(row, outcome)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "blocked_episodes": self.blocked_episodes,
            "totals": self.totals,
            "rows": [
                {
                    "agent": r.agent,
                    "rule": r.rule,
                    "allow": r.allow,
                    "rewrite": r.rewrite,
                    "block": r.block,
                    "targets": list(r.targets),
                }
                for r in self.rows
            ],
        }

    def render(self) -> str:
        """A plain-text table (empty string when nothing was governed)."""
        if not self.rows:
            return ""
        t = self.totals
        lines = [
            f"governance: {sum(t.values())} decisions in {self.episodes} episodes "
            f"(allow {t['allow']}, rewrite {t['rewrite']}, block {t['block']}; "
            f"{self.blocked_episodes} episodes with a block)",
            f"  {'agent':<16} {'rule':<46} {'allow':>6} {'rewrite':>7} {'block':>6}  targets",
        ]
        for r in self.rows:
            lines.append(
                f"  {r.agent[:16]:<16} {r.rule[:46]:<46} {r.allow:>6} {r.rewrite:>7} "
                f"{r.block:>6}  {', '.join(r.targets)}"
            )
        return "\n".join(lines)


def governance_report(events: Iterable[Event]) -> GovernanceReport:
    """Count the `governance` events of `events` (one run, any number of episodes)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    targets: dict[tuple[str, str], set[str]] = {}
    episodes: set[str] = set()
    blocked: set[str] = set()
    for event in events:
        payload = event.payload
        if event.kind != "governance" or not isinstance(payload, Governance):
            continue
        key = (event.agent, payload.rule)
        bucket = counts.setdefault(key, dict.fromkeys(OUTCOMES, 0))
        bucket[payload.decision] += 1
        targets.setdefault(key, set()).add(payload.target)
        episodes.add(event.episode_id)
        if payload.decision == "block":
            blocked.add(event.episode_id)
    rows = [
        GovernanceRow(
            agent, rule, **counts[(agent, rule)], targets=tuple(sorted(targets[(agent, rule)]))
        )
        for agent, rule in sorted(counts)
    ]
    return GovernanceReport(rows=rows, episodes=len(episodes), blocked_episodes=len(blocked))
