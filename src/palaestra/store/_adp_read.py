"""Reading ADP files: every version, checked by the ADP release that reads it.

`read_adp` and `read_adp_dataset` accept a JSONL file (or a JSON list, ADP's
`sample_std.json`), or a 1.5.0 dataset directory with its `metadata.json`. Each
trajectory is checked by the models of the ADP release that reads it, chosen by its
shape and label as ADP's own releases would (`_release`): `available_custom_tools`,
`available_code_languages` or a 1.4.0 / 1.5.0 label -> 1.5.0; any `tool_call_id` or a
1.3 label -> 1.3.0 (a 1.2.0 label with ids is what ADP 1.3.0 reads); otherwise 1.2.0. A
label no release lists but files carry (`ADP_READ_ALIASES`: 1.3.1) is read under the
rules it names. Items without `class_` get the class ADP's union gives them. Lines end at
"\n" only. Every problem is a `UserError` naming the file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from palaestra.core import UserError
from palaestra.store._adp_metadata import AdpDatasetMetadata
from palaestra.store._adp_schema import (
    ADP_READ_ALIASES,
    TRAJECTORY_MODELS,
    Adp15Trajectory,
    AdpTrajectory,
)
from palaestra.store._adp_write import METADATA_FILE, TRAJECTORIES_FILE
from palaestra.store._jsonl import _opened

_NEWER_LABELS = ("1.4.0", "1.5.0")


def _problems(exc: ValidationError) -> str:
    """`field.path: message` for each error of a validation (at most five)."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(value)'}: {err['msg']}"
        for err in exc.errors()[:5]
    ]
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _release(record: dict[str, Any]) -> str:
    """The ADP release whose models read `record` (see the module docstring)."""
    label = record.get("schema_version")
    label = ADP_READ_ALIASES.get(label, label) if isinstance(label, str) else label
    content = record.get("content")
    items = content if isinstance(content, list) else []
    if (
        "available_custom_tools" in record
        or "available_code_languages" in record
        or label in _NEWER_LABELS
    ):
        return "1.5.0"
    if label == "1.3.0" or any(isinstance(i, dict) and "tool_call_id" in i for i in items):
        return "1.3.0"
    return "1.2.0"


def parse_trajectory(record: Any) -> AdpTrajectory:
    """One trajectory, checked by the ADP release that reads it; `ValueError` (with the
    release's complaint) when it does not."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    release = _release(record)
    label = record.get("schema_version")
    if isinstance(label, str) and label in ADP_READ_ALIASES:
        record = {**record, "schema_version": ADP_READ_ALIASES[label]}
    try:
        return TRAJECTORY_MODELS[release].model_validate(record)  # type: ignore[return-value]
    except ValidationError as exc:
        raise ValueError(f"(read as ADP {release}) {_problems(exc)}") from None


def read_adp(fp_or_path: str | Path | IO[str]) -> list[AdpTrajectory]:
    """Parse and validate ADP trajectories: a JSONL file (or a JSON list), or a 1.5.0
    dataset directory; errors name the file and line."""
    if isinstance(fp_or_path, str | Path) and Path(fp_or_path).is_dir():
        return read_adp_dataset(fp_or_path)[0]
    name = str(
        fp_or_path if isinstance(fp_or_path, str | Path) else getattr(fp_or_path, "name", "")
    )
    try:
        with _opened(fp_or_path, "r") as (fp, name):
            text = fp.read()
    except UnicodeDecodeError as exc:
        raise UserError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise UserError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{name}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        except RecursionError:
            raise UserError(f"{name}: not valid JSON (nested too deeply)") from None
        if not isinstance(loaded, list):
            raise UserError(f"{name}: expected a JSON list of trajectories")
        records = [(f"item {n}", r) for n, r in enumerate(loaded)]
    else:
        records = []
        # lines end at "\n" only: U+0085, U+2028 and U+2029 may stand unescaped in JSON text
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                records.append((str(lineno), json.loads(line)))
            except (json.JSONDecodeError, RecursionError) as exc:
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                raise UserError(f"{name}:{lineno}: not valid JSON ({why})") from None
    trajectories = []
    for where, record in records:
        try:
            trajectories.append(parse_trajectory(record))
        except ValueError as exc:
            raise UserError(f"{name}:{where}: not an ADP trajectory: {exc}") from None
    if not trajectories:
        raise UserError(f"{name}: no ADP trajectories (expected one JSON object per line)")
    return trajectories


def read_adp_dataset(
    path: str | Path,
) -> tuple[list[AdpTrajectory], AdpDatasetMetadata | None]:
    """Trajectories and `metadata.json` of an ADP dataset: a directory (its
    `trajectories.jsonl`, else its one `*.jsonl` or `sample_std.json`), or a file with
    the directory's `metadata.json` beside it (None when there is none)."""
    path = Path(path)
    given_directory = path.is_dir()
    directory = path if given_directory else path.parent
    if given_directory:
        candidates = [path / TRAJECTORIES_FILE] if (path / TRAJECTORIES_FILE).exists() else []
        candidates = candidates or sorted(path.glob("*.jsonl")) or sorted(path.glob("*std.json"))
        if len(candidates) != 1:
            found = ", ".join(c.name for c in candidates) or "none"
            raise UserError(
                f"{path}: an ADP dataset directory holds one trajectories file "
                f"({TRAJECTORIES_FILE}, or one *.jsonl); found {found}"
            )
        path = candidates[0]
    trajectories = read_adp(path)
    meta_path = directory / METADATA_FILE
    newest = any(isinstance(t, Adp15Trajectory) for t in trajectories)
    if not meta_path.is_file() or not (given_directory or newest):
        return trajectories, None
    try:
        metadata = AdpDatasetMetadata.model_validate_json(meta_path.read_bytes())
    except ValidationError as exc:
        raise UserError(f"{meta_path}: not ADP dataset metadata: {_problems(exc)}") from None
    return trajectories, metadata
