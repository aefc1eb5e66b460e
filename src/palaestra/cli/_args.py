"""Command-line input checked before any work: every value a flag takes is validated by
the flag's name (the same rule for `--concurrency` in `run`, `eval`, `compare`,
`shapley` and `score`), and an operating-system error on a path the user gave is the
user's to fix, not a traceback.

Each problem is a `UserError` naming the flag (or the path) and the fix; the command
prints it as one `error:` line and exits 2. Rules apply by the argparse destination
name, so a new subcommand's `--concurrency` is checked without further code.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from palaestra.core import UserError

MAX_SEED = 2**63 - 1
MAX_RUN_ID = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _whole(least: int, most: int | None = None) -> Callable[[Any], str | None]:
    def rule(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "expected a whole number"
        if value < least or (most is not None and value > most):
            upper = f" and at most {most:,}" if most is not None else ""
            return f"expected a whole number of at least {least}{upper}"
        return None

    return rule


def _seconds(value: Any) -> str | None:
    if not isinstance(value, float | int) or not math.isfinite(value) or value <= 0:
        return "expected a number of seconds greater than 0"
    return None


def _model_spec(value: Any) -> str | None:
    from palaestra.models import spec_problem

    spec = str(value).strip()
    prefix, _, rest = spec.partition(":")
    if not spec:
        return "give a model spec, e.g. openai:gpt-4o-mini"
    if prefix == "openai" and not rest.strip():
        return "name the model after openai:, e.g. openai:gpt-4o-mini"
    # the providers' registry decides (a plugin's prefix too); a bare NAME is
    # openai:NAME with --base-url, checked when built
    return spec_problem(spec)


def _url(value: Any) -> str | None:
    try:
        parts = urlsplit(str(value))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a URL ({exc}); e.g. http://localhost:8000/v1"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL, e.g. http://localhost:8000/v1"
    return None


def _run_id(value: Any) -> str | None:
    text = str(value)
    if not text.strip():
        return "give a non-empty run id, or leave the flag out for a fresh one"
    if len(text) > MAX_RUN_ID:
        return f"a run id has at most {MAX_RUN_ID} characters, this one {len(text):,}"
    if _CONTROL.search(text):
        return "a run id cannot hold control characters (newlines, tabs, escapes)"
    return None


RULES: dict[str, Callable[[Any], str | None]] = {
    "concurrency": _whole(1),
    "budget": _whole(1),
    "budget_tokens": _whole(1),
    "samples": _whole(1),
    "steps": _whole(1),
    "max_instances": _whole(1),
    "context": _whole(0, 10_000),
    "at": _whole(0),
    "seed": _whole(0, MAX_SEED),
    "idle_timeout": _seconds,
    "model": _model_spec,
    "base_url": _url,
    "run_id": _run_id,
}
"""argparse destination -> rule; a rule returns the problem, or None when the value is
fine. Values that are None (a flag not given) are not checked."""


def check_argv(argv: Iterable[str]) -> None:
    """Arguments must be text: bytes that are not UTF-8 (which Python turns into lone
    surrogates) and NUL would fail later in a file name, the store or the terminal."""
    for position, arg in enumerate(argv, start=1):
        if _SURROGATE.search(arg) or "\x00" in arg:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            shown = shown.replace("\x00", "\\0")
            raise UserError(
                f"argument {position} ({shown!r}) is not valid UTF-8 text; palaestra's "
                "file names, ids and specs must be UTF-8 (rename the file, or retype it)"
            )


def check_args(args: argparse.Namespace) -> None:
    """Every flag that has a rule in `RULES`, checked before the command runs."""
    for dest, rule in RULES.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        problem = rule(value)
        if problem:
            flag = "--" + dest.replace("_", "-")
            raise UserError(f"{flag} {value!r}: {problem}")


_FIXES = {
    errno.EACCES: "check its permissions, or choose another path",
    errno.EPERM: "check its permissions, or choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOSPC: "the disk is full; free some space or choose another path",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another path",
    errno.EISDIR: "give a file, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory; choose another path",
    errno.EEXIST: "a part of the path is a file, not a directory; choose another path",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ELOOP: "the path has a symbolic link loop",
}


def user_path_error(exc: OSError, args: argparse.Namespace) -> str | None:
    """The message for an OSError on a path the user gave (a command-line value or the
    store from $PALAESTRA_STORE), the path itself, a directory above it or a file under
    it; None for any other OSError, which is left to raise."""
    names = [n for n in (exc.filename, exc.filename2) if isinstance(n, str | bytes | Path)]
    if not names:
        return None
    given = [Path(os.path.abspath(p)) for p in _path_values(args)]
    for name in names:
        failed = Path(os.path.abspath(os.fsdecode(name)))
        for path in given:
            if failed == path or failed in path.parents or path in failed.parents:
                reason = exc.strerror or type(exc).__name__
                fix = _FIXES.get(exc.errno or 0, "check the path")
                return f"{os.fsdecode(name)}: {reason}; {fix}"
    return None


def _path_values(args: argparse.Namespace) -> list[str]:
    values: list[str] = []
    for value in vars(args).values():
        items = value if isinstance(value, list) else [value]
        values += [item for item in items if isinstance(item, str) and item.strip()]
    store = os.environ.get("PALAESTRA_STORE")
    if store:
        values.append(store)
    values.append("runs")  # the default store's directory
    return values
