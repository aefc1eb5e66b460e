"""Artifact-level grading: score an episode by the files its agent left in its workspace.

An environment that holds a workspace (``code.python``, ``code.workspace``, any built on
`palaestra.sandbox.EpisodeWorkspace`) records, at the episode's end whatever ended it, a
``workspace`` event: the files with their kinds, sizes and SHA-256 (capped;
`palaestra.core.WorkspaceManifest`). `EpisodeLog.workspace` reads it; `workspace_files`
grades it against expectations given as the target:

```yaml
scorers:
  - use: workspace_files                 # or python: "palaestra.eval:workspace_files"
    target:
      solution.py: true                  # a regular file is there
      notes/plan.md: {size: 120}         # ... of this size
      out.bin: "9f86d081884c7d65..."     # ... with this SHA-256 (64 hex digits)
      scratch.txt: false                 # nothing is there
```

Paths are relative to the workspace (``./src/a.py`` is ``src/a.py``; ``..`` is refused).
A list of paths means each must be a regular file. Each expectation is met or not; the
value is the share met, success when all are. A manifest that is `truncated` (too many
files, or files not hashed) can neither show a path is absent nor hash a file it did not
hash: such expectations count as not met, and the explanation says why.
"""

from __future__ import annotations

import re
from typing import Any

from palaestra.core import FileEntry, WorkspaceManifest
from palaestra.eval._scorer import EpisodeLog, ScoreResult, Target

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_FIELDS = ("kind", "size", "sha256", "target")


def workspace_files(log: EpisodeLog, target: Target) -> ScoreResult:
    """The share of the target's file expectations (module docstring) that the files
    left in the episode's workspace meet; success when all are. ``metadata["files"]``
    says, per path, whether its expectation was met and why not."""
    manifest = log.workspace
    if manifest is None:
        return ScoreResult(0.0, False, explanation="the episode recorded no workspace")
    try:
        expected = _expectations(target.data)
    except ValueError as exc:
        return ScoreResult.failed(f"workspace_files: {exc}")
    if not expected:
        return ScoreResult(
            0.0, False, explanation="no file expectations: give `target:` (path -> expectation)"
        )
    problems = {path: _check(manifest, path, want) for path, want in expected.items()}
    failed = {path: why for path, why in problems.items() if why}
    met = len(expected) - len(failed)
    explanation = f"{met}/{len(expected)} file expectations met"
    if failed:
        explanation += "; " + "; ".join(f"{path}: {why}" for path, why in failed.items())
    return ScoreResult(
        met / len(expected),
        not failed,
        explanation=explanation,
        metadata={
            "files": {path: {"met": not why, "why": why} for path, why in problems.items()},
            "truncated": manifest.truncated,
        },
    )


def _expectations(data: Any) -> dict[str, dict[str, Any] | None]:
    """The target as path -> the fields a file there must have (None: no file)."""
    if data is None:
        return {}
    if isinstance(data, list):
        items: dict[str, Any] = {}
        for path in data:
            if not isinstance(path, str):
                raise ValueError(f"a list target names paths; got {path!r}")
            items[path] = True
    elif isinstance(data, dict):
        items = data
    else:
        raise ValueError(f"the target must map paths to expectations (or list paths); got {data!r}")
    out: dict[str, dict[str, Any] | None] = {}
    for path, want in items.items():
        key = _relative(str(path))
        if key in out:
            raise ValueError(f"{path}: the path {key!r} is given twice")
        out[key] = _expectation(str(path), want)
    return out


def _relative(path: str) -> str:
    """`path` as the manifest writes it: relative to the workspace, ``/`` separators,
    no ``.`` or empty components (``./src//app.py`` is ``src/app.py``)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"{path!r} is not a path inside the workspace")
    return "/".join(parts)


def _expectation(path: str, want: Any) -> dict[str, Any] | None:
    if want is False:
        return None
    if want is True:
        return {"kind": "file"}
    if isinstance(want, str):
        if not _SHA256.fullmatch(want):
            raise ValueError(
                f"{path}: a text expectation is a SHA-256 (64 hex digits), got {want!r}"
            )
        return {"kind": "file", "sha256": want.lower()}
    if isinstance(want, dict):
        unknown = sorted(set(want) - set(_FIELDS))
        if unknown:
            raise ValueError(f"{path}: unknown field {unknown[0]!r}; fields: {', '.join(_FIELDS)}")
        fields = {"kind": "file", **want}
        if isinstance(fields.get("sha256"), str):
            fields["sha256"] = fields["sha256"].lower()
        return fields
    raise ValueError(
        f"{path}: expected true, false, a SHA-256 or a mapping of {', '.join(_FIELDS)}; "
        f"got {want!r}"
    )


def _check(manifest: WorkspaceManifest, path: str, want: dict[str, Any] | None) -> str:
    """Why the file at `path` does not meet `want` ('' when it does)."""
    entry = manifest.file(path)
    if want is None:
        if entry is not None:
            return f"expected no file, found a {entry.kind}"
        if manifest.truncated:
            return "not listed, but the manifest is truncated: absence not shown"
        return ""
    if entry is None:
        if manifest.truncated:
            return "not listed (the manifest is truncated)"
        return "no such file"
    for field in _FIELDS:
        if field not in want:
            continue
        got = getattr(entry, field)
        if field == "sha256" and got is None:
            return "its content was not hashed (the manifest's byte budget ran out)"
        if got != want[field]:
            return f"{field} is {_shown(entry, field)}, expected {want[field]!r}"
    return ""


def _shown(entry: FileEntry, field: str) -> str:
    value = getattr(entry, field)
    return repr(value[:12] + "...") if field == "sha256" and value else repr(value)
