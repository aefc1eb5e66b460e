"""Naming an episode on the command line: its full id or an unambiguous prefix."""

from __future__ import annotations

from typing import Any

from palaestra.core import UserError


def resolve_episode(store: Any, run_id: str, ref: str) -> str:
    """The id of the episode of `run_id` that `ref` names (an id, or a unique prefix)."""
    ids = [e.episode_id for e in store.episodes(run_id)]
    if ref in ids:
        return ref
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
        raise UserError(f"run {run_id!r} has no episode {ref!r}; episodes: {shown}")
    raise UserError(f"episode prefix {ref!r} is ambiguous: {', '.join(matches[:8])}")
