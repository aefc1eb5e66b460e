"""A scorer for `example.ledger`: did the clerk read every entry before answering?

Installed, it is the scorer ``{use: example.read_every_entry}`` (the entry point in
pyproject.toml); without installing, ``{python:
"palaestra_example_plugin.scoring:read_every_entry"}`` names it (docs/scorers.md). A
scorer is a function of the episode's log and its target.
"""

from __future__ import annotations

from palaestra.eval import EpisodeLog, ScoreResult, Target


def read_every_entry(log: EpisodeLog, target: Target) -> ScoreResult:
    """Success iff every entry index was read (the target says how many there are)."""
    data = target.data if isinstance(target.data, dict) else {}
    entries = int(data.get("entries", 0))
    read = {
        call.arguments.get("index")
        for call in log.tool_calls()
        if call.name == "read_entry" and isinstance(call.arguments, dict)
    }
    seen = len(read & set(range(entries)))
    return ScoreResult(
        value=seen / entries if entries else 0.0,
        success=entries > 0 and seen == entries,
        explanation=f"read {seen} of {entries} entries",
    )
