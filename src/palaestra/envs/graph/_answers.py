"""Tolerant readers of the answers of the graph problems: Yes/No, a bit, a neighbour's name.

An LLM's answer arrives as the text after ``ANSWER:`` (markdown already stripped at the
ends by `extract_answer`) or as ``Action.data["answer"]``. These readers accept what a
person would accept — any case, markdown, punctuation, a short reason after the answer
("No, Bob is the leader.") — and reject what a person could not decide ("Yes or No",
"0/1"), with an error worded so that the model can fix it when it is asked again.

Each reader returns ``(value, "")`` for a valid answer and ``(None, why not)`` otherwise,
the contract of `MessagePassingEnv.parse_answer`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

NO_PARTNER = "None"
"""The matching answer of an agent that pairs with nobody (no agent is named so)."""

YES_WORDS = frozenset({"yes", "true"})
NO_WORDS = frozenset({"no", "false"})
BIT_WORDS = {"0": 0, "1": 1, "zero": 0, "one": 1}
NONE_WORDS = frozenset({"none", "nobody", "noone", "nil", "null"})

_TOKEN_RE = re.compile(r"[A-Za-z]+[0-9]*|[0-9]+")
_NO_ONE_RE = re.compile(r"\bno[\s-]+one\b", re.IGNORECASE)


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers of `text` (a name with a numeric suffix is one word)."""
    return [t.lower() for t in _TOKEN_RE.findall(text)]


def _shown(raw: Any) -> str:
    return repr(str(raw)[:40])


def _choose(words: list[str], choices: dict[str, Any], what: str) -> tuple[Any, str]:
    """The choice an answer names: its first word if that is a choice (unless "or" or a
    different choice follows it: the options were copied), else the only choice it
    mentions. ``(None, "")`` when it mentions none."""
    if words and words[0] in choices:
        first = choices[words[0]]
        second = words[1] if len(words) > 1 else ""
        if second == "or" or choices.get(second, first) != first:
            return None, f"expected exactly one of {what}, got several"
        return first, ""
    named = {choices[w] for w in words if w in choices}
    if len(named) > 1:
        return None, f"expected exactly one of {what}, got several"
    return (named.pop(), "") if named else (None, "")


def parse_yes_no(raw: Any) -> tuple[bool | None, str]:
    """``"Yes"``, ``"**yes.**"``, ``"No, I am not"``, ``True`` -> True/False."""
    if isinstance(raw, bool):
        return raw, ""
    if isinstance(raw, str):
        choices = {w: True for w in YES_WORDS} | {w: False for w in NO_WORDS}
        value, error = _choose(tokens(raw), choices, "Yes or No")
        if value is not None or error:
            return value, error
    return None, f"expected Yes or No, got {_shown(raw)}"


def parse_bit(raw: Any) -> tuple[int | None, str]:
    """``1``, ``"0"``, ``"**1.**"``, ``"value: 1"``, ``"one"`` -> 0 or 1."""
    if isinstance(raw, bool):
        return None, f"expected 0 or 1, got {raw!r}"
    if isinstance(raw, int | float):
        if raw in (0, 1):
            return int(raw), ""
        return None, f"expected 0 or 1, got {raw!r}"
    if isinstance(raw, str):
        value, error = _choose(tokens(raw), BIT_WORDS, "0 or 1")
        if value is not None or error:
            return value, error
    return None, f"expected 0 or 1, got {_shown(raw)}"


def parse_partner(
    raw: Any, neighbors: Iterable[str], agents: Collection[str] = ()
) -> tuple[str | None, str]:
    """A neighbour's name (any case, markdown, a reason after it) or `NO_PARTNER` for
    ``"None"``/``"nobody"``; the name of an agent who is not a neighbour, or of no
    agent, is an error that lists the valid answers."""
    options = ", ".join([*neighbors, NO_PARTNER])
    if not isinstance(raw, str):
        return None, f"expected the name of one of your neighbours or None ({options})"
    by_word = {name.lower(): name for name in neighbors}
    choices: dict[str, str] = dict.fromkeys(NONE_WORDS, NO_PARTNER) | by_word
    words = tokens(_NO_ONE_RE.sub("noone", raw))
    value, error = _choose(words, choices, "your neighbours or None")
    if value is not None or error:
        if error:
            error = f"name exactly one partner, one of: {options}"
        return value, error
    strangers = [name for name in agents if name.lower() in words]
    if strangers:
        return None, (f"{strangers[0]} is not one of your neighbours; answer one of: {options}")
    return None, f"expected one of: {options}; got {_shown(raw)}"
