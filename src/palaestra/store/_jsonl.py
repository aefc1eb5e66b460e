"""JSONL export of one run: a plain, self-describing text form of a run (import:
`_jsonl_import.py`).

```
{"type":"run","schema_version":1,"format_version":2,"run":{...RunRow...}}   first line
{"type":"episode","episode":{...EpisodeRow...}}          one per episode, in start order
{"type":"event","event":{...Event...}}                   its events, by seq
...
{"type":"trailer","run_id":"...","episodes":3,"events":40,"sha256":"...",
 "format_version":2,"schema_version":1}                  last line (one line in the file)
```

Events are written exactly as stored (`Event.to_json`), so export costs no parsing, and
`store -> jsonl -> new store -> jsonl` gives byte-identical files. Unfinished episodes are
exported with their status and whatever events were stored.

The **trailer** is what makes a file provably whole: it counts the episode and event
lines and carries the SHA-256 of every byte before it (UTF-8, `\\n` line ends). Import
refuses a file whose trailer is missing (a file cut anywhere, even at an episode
boundary, looks like a smaller run otherwise) or does not match; `partial=True`
(`--partial`) imports what it holds and marks the run `interrupted`. A file written to a
path is also written atomically (`palaestra.core.atomic_write`): a killed export leaves
the old file or none, never a cut one; the trailer protects what goes to a pipe.

`format_version` is the layout of the file (1: before the trailer existed, 2: with it);
`schema_version` is the event schema (`palaestra.core.SCHEMA_VERSION`).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from palaestra.core import SCHEMA_VERSION, UserError, atomic_write
from palaestra.store._sqlite import Store

JSONL_FORMAT_VERSION = 2
"""Layout of the JSONL export: 1 (no trailer), 2 (a trailer record ends the file)."""


@contextmanager
def _opened(fp_or_path: str | Path | IO[str], mode: str) -> Iterator[tuple[IO[str], str]]:
    """A text stream and a name for messages, from a path or an open stream. A path
    opened for writing is written atomically (see `palaestra.core.atomic_write`)."""
    if isinstance(fp_or_path, str | Path):
        if mode == "w":
            with atomic_write(fp_or_path) as fp:
                yield fp, str(fp_or_path)
        else:
            with open(fp_or_path, mode, encoding="utf-8", newline="\n") as fp:
                yield fp, str(fp_or_path)
    else:
        yield fp_or_path, str(getattr(fp_or_path, "name", "<stream>"))


def _problems(exc: ValidationError) -> str:
    """`field.path: message (got value)` for each error; values shown only when short."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(value)"
        value = err.get("input")
        got = ""
        if isinstance(value, str | int | float | bool) and len(repr(value)) <= 60:
            got = f" (got {value!r})"
        parts.append(f"{where}: {err['msg']}{got}")
    return "; ".join(parts)


def is_binary(fp: Any) -> bool:
    """Whether an open stream takes (or gives) bytes rather than str."""
    if isinstance(fp, io.TextIOBase):
        return False
    if isinstance(fp, io.RawIOBase | io.BufferedIOBase):
        return True
    return "b" in str(getattr(fp, "mode", ""))


class _DigestWriter:
    """Writes text chunks to a text or binary stream and hashes their UTF-8 bytes."""

    def __init__(self, fp: Any) -> None:
        self._fp = fp
        self._binary = is_binary(fp)
        self.sha256 = hashlib.sha256()

    def write(self, text: str, *, hashed: bool = True) -> None:
        data = text.encode("utf-8")
        if hashed:
            self.sha256.update(data)
        self._fp.write(data if self._binary else text)


@contextmanager
def _sink(fp_or_path: str | Path | IO[Any]) -> Iterator[_DigestWriter]:
    if isinstance(fp_or_path, str | Path):
        with atomic_write(fp_or_path, "wb") as fp:
            yield _DigestWriter(fp)
    else:
        yield _DigestWriter(fp_or_path)


def trailer_record(run_id: str, episodes: int, events: int, sha256: str) -> dict[str, Any]:
    """The last record of a JSONL export (see the module docstring)."""
    return {
        "type": "trailer",
        "run_id": run_id,
        "episodes": episodes,
        "events": events,
        "sha256": sha256,
        "format_version": JSONL_FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
    }


def _compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def export_jsonl(store: Store, run_id: str, fp_or_path: str | Path | IO[Any]) -> int:
    """Write run `run_id` as JSONL to a path (atomically) or an open text or binary
    stream, ending with its trailer; returns the events written."""
    run = store.get_run(run_id)
    if run is None:
        raise UserError(f"no run {run_id!r} in store {store.path}")
    header = {
        "type": "run",
        "schema_version": SCHEMA_VERSION,
        "format_version": JSONL_FORMAT_VERSION,
        "run": run.model_dump(mode="json"),
    }
    events = episodes = 0
    with _sink(fp_or_path) as out:
        out.write(_compact(header) + "\n")
        for row in store.episodes(run_id):
            texts = store._event_json(run_id, row.episode_id)
            out.write(
                '{"type":"episode","episode":'
                + row.model_dump_json()
                + "}\n"
                + "".join('{"type":"event","event":' + text + "}\n" for text in texts)
            )
            episodes += 1
            events += len(texts)
        trailer = trailer_record(run_id, episodes, events, out.sha256.hexdigest())
        out.write(_compact(trailer) + "\n", hashed=False)
    return events
