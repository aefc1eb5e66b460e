"""Structural measures of a generated task, read off the task itself (never from its id).

They make the claim "each axis changes only its own structure" checkable: a sweep over
one axis must leave every other measure fixed (tests do exactly that), and an analysis can
report the measured structure next to the score.
"""

from __future__ import annotations

from dataclasses import dataclass

from palaestra.envs.mas._task import MasTask


@dataclass(frozen=True)
class Structure:
    """What a task is made of, measured."""

    depth: int
    """Steps per sub-problem (the same for every sub-problem)."""
    horizon: int
    """Turns over which the steps are revealed: last reveal turn + 1."""
    breadth: int
    """Number of sub-problems."""
    parallel: int
    """Sub-problems that depend on no other (roots); each root heads one component."""
    components: int
    """Connected components of the dependency graph."""
    longest_chain: int
    """Sub-problems on the longest dependency chain: the sequential rounds needed even
    with one worker per sub-problem."""
    max_in_degree: int
    """Most sub-problems any one sub-problem needs directly (1 when something depends)."""
    keys: int
    """Keys to look up (one per step)."""
    attacked: int
    """Keys that also have a misleading record."""

    @property
    def robustness(self) -> float:
        """Share of keys with a misleading record."""
        return self.attacked / self.keys if self.keys else 0.0


def measure(task: MasTask) -> Structure:
    """Measure `task`; raises `ValueError` if its sub-problems differ in length (a bug)."""
    subs = task.subproblems
    depths = {len(sub.steps) for sub in subs}
    if len(depths) != 1:
        raise ValueError(f"sub-problems of {task.id} differ in length: {sorted(depths)}")
    parent = {sub.name: sub.depends_on for sub in subs}
    chain: dict[str, int] = {}
    root: dict[str, str] = {}
    for sub in subs:  # dependency order: a parent comes before its children
        up = parent[sub.name]
        chain[sub.name] = 1 if up is None else chain[up] + 1
        root[sub.name] = sub.name if up is None else root[up]
    in_degree = [int(sub.depends_on is not None) for sub in subs]
    turns = [step.reveal_turn for sub in subs for step in sub.steps]
    return Structure(
        depth=depths.pop(),
        horizon=max(turns) + 1,
        breadth=len(subs),
        parallel=sum(1 for up in parent.values() if up is None),
        components=len(set(root.values())),
        longest_chain=max(chain.values()),
        max_in_degree=max(in_degree),
        keys=len(task.records),
        attacked=len(task.attacked_keys),
    )
