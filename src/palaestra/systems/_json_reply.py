"""Reading JSON out of a model's free text, the way a careful reader would.

Models wrap JSON in prose and Markdown fences (```json ... ```), or answer a yes/no
question in words. These helpers find the value a reply meant and say plainly what was
wrong when there is none, so the caller can re-ask the model with that message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.S)
_DECODER = json.JSONDecoder()


class NoJSON(ValueError):
    """The reply holds no JSON value of the kind asked for."""


def find_json(text: str, kind: type[dict[Any, Any]] | type[list[Any]]) -> Any:
    """The first JSON object (`kind=dict`) or array (`kind=list`) in `text`.

    Tried in order: the whole text, the content of each Markdown code fence, then every
    position where such a value opens (the first that decodes wins). Raises `NoJSON`
    with a message for the model when none is found.
    """
    what = "object" if kind is dict else "array"
    candidates = [text.strip(), *(block.strip() for block in _FENCE.findall(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, kind):
            return value
    opener = "{" if kind is dict else "["
    start = text.find(opener)
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except ValueError:
            pass
        else:
            if isinstance(value, kind):
                return value
        start = text.find(opener, start + 1)
    raise NoJSON(f"no JSON {what} found in the reply")


def validation_problems(exc: ValidationError) -> list[str]:
    """One ``field: message`` line per validation error (``(root)`` for the whole)."""
    return [
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors()
    ]


def parse_model(text: str, schema: type[BaseModel]) -> tuple[BaseModel | None, list[str]]:
    """Validate the first JSON object in `text` against `schema`: returns the model and
    no problems, or None and the problems (one line each) to show the model."""
    try:
        value = find_json(text, dict)
    except NoJSON as exc:
        return None, [str(exc)]
    try:
        return schema.model_validate(value), []
    except ValidationError as exc:
        return None, validation_problems(exc)


_YES = {"yes", "y", "true", "atomic"}
_NO = {"no", "n", "false", "decompose", "composite", "complex", "not"}


def parse_yes_no(text: str, key: str) -> bool | None:
    """A yes/no answer: a JSON object with a boolean `key` (``{"atomic": true}``), or a
    reply whose first word is yes/no (true/false; ``key`` itself means yes). None when
    the reply says neither."""
    try:
        value = find_json(text, dict)
    except NoJSON:
        value = None
    if isinstance(value, dict) and isinstance(value.get(key), bool):
        return bool(value[key])
    words = re.findall(r"[a-z]+", text.lower())
    if not words:
        return None
    first = words[0]
    if first in _YES or first == key.lower():
        return True
    if first in _NO:
        return False
    return None
