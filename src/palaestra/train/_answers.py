"""Answer detection for the format penalty of resample-on-correct (GRPO-RoC).

An `AnswerFormat` is any function of a reply text returning an `AnswerCount`: how many
complete answers it holds, and whether one was opened and never closed.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol


class AnswerCount(NamedTuple):
    """What an answer detector found in a trajectory's replies."""

    answers: int
    """Complete answers found over all replies."""
    unclosed: bool
    """An answer was opened but never closed."""


class AnswerFormat(Protocol):
    """Counts answers in a reply text (for the format penalty of resample-on-correct)."""

    def __call__(self, text: str) -> AnswerCount: ...


def tag_answers(open_tag: str = "<answer>", close_tag: str = "</answer>") -> AnswerFormat:
    """Answers delimited by an opening and a closing tag (rStar2-Agent's format)."""

    def count(text: str) -> AnswerCount:
        answers, pos, unclosed = 0, 0, False
        while True:
            start = text.find(open_tag, pos)
            if start < 0:
                break
            end = text.find(close_tag, start + len(open_tag))
            if end < 0:
                unclosed = True
                break
            answers += 1
            pos = end + len(close_tag)
        return AnswerCount(answers, unclosed)

    return count


def regex_answers(pattern: str, *, flags: int = re.MULTILINE) -> AnswerFormat:
    """Answers marked by a regular expression, one per match (no closing needed), e.g.
    `regex_answers(r"^ANSWER:")` for the graph environments' replies."""
    compiled = re.compile(pattern, flags)

    def count(text: str) -> AnswerCount:
        return AnswerCount(len(compiled.findall(text)), False)

    return count
