"""`StoreReader`: what the viewer's API serves, read through the store's reader API
(`palaestra.store.ReadOnlyStore`): the same pages, with each event of a timeline page
described for the UI (`describe_event`). The viewer writes no SQL of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from palaestra.store import OUTCOMES, EpisodeFilter, NotFound, ReadOnlyStore
from palaestra.viewer._summary import describe_event

__all__ = [
    "MAX_LIMIT",
    "MAX_TEXT",
    "MAX_VALUES",
    "OUTCOMES",
    "EpisodeFilter",
    "NotFound",
    "StoreReader",
]

MAX_LIMIT = ReadOnlyStore.MAX_LIMIT
"""Largest page any endpoint returns."""
MAX_TEXT = ReadOnlyStore.MAX_TEXT
"""Longest text a query takes (a run reference, an id, a filter)."""
MAX_VALUES = 64
"""Most distinct values of a list parameter (outcomes, event kinds)."""


class StoreReader:
    """The viewer's read-only queries over the store at `path` (safe across threads):
    `ReadOnlyStore`'s pages, with timeline entries for events."""

    def __init__(self, path: str | Path) -> None:
        self.store = ReadOnlyStore(path)
        self.path = self.store.path

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runs(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """A page of runs, newest first, each with its episode counts (no experiment)."""
        return self.store.runs(limit=limit, offset=offset)

    def resolve_run(self, ref: str) -> str:
        """The run id named by `ref`: an exact id, `last` (newest), or a unique prefix."""
        return self.store.resolve_run(ref)

    def run(self, ref: str) -> dict[str, Any]:
        """One run: its row (experiment included) and `summary`."""
        return self.store.run(ref)

    def facets(self, ref: str) -> dict[str, Any]:
        """What the episode filters can choose from in a run, with counts."""
        return self.store.facets(ref)

    def episodes(
        self,
        ref: str,
        where: EpisodeFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """A page of a run's episodes in start order, filtered, with the filtered total."""
        return self.store.episodes(ref, where, limit=limit, offset=offset)

    def episode(
        self, episode: int | None = None, *, run: str = "", episode_id: str = ""
    ) -> dict[str, Any]:
        """One episode row by its store id, or by run reference and episode id."""
        return self.store.episode(episode, run=run, episode_id=episode_id)

    def events(
        self,
        episode: int,
        *,
        after_seq: int = -1,
        limit: int = 200,
        kinds: tuple[str, ...] = (),
        agent: str | None = None,
    ) -> dict[str, Any]:
        """A page of an episode's events with `seq > after_seq`, in seq order, each as a
        timeline entry (`describe_event`); `next_after_seq` continues it (None at the end).
        `kinds` keeps those kinds; `agent` keeps that agent and its internal agents."""
        page = self.store.events(
            episode, after_seq=after_seq, limit=limit, kinds=kinds, agent=agent
        )
        return {**page, "items": [describe_event(item) for item in page["items"]]}

    def event(self, episode: int, seq: int) -> dict[str, Any]:
        """One event's stored JSON, parsed."""
        return self.store.event(episode, seq)
