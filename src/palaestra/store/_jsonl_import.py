"""JSONL import of one run (the format and its trailer: `_jsonl.py`).

Every line is validated (an error names the file and line number) and the run is written
in one transaction, so a refused file imports nothing. A file is refused unless its
trailer proves it whole: present, of the same run, counting the episode and event lines
the file holds, with the SHA-256 of the bytes before it. With `partial=True` the records
that can be read are imported anyway, the run is marked `interrupted` (what it holds is
not the whole run: `palaestra run ... --run-id` resumes it) and a finished episode that
lost events is imported as unfinished, as a killed run leaves it. Files written before
the trailer existed (format 1) are read only with `partial=True`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from palaestra.core import SCHEMA_VERSION, Event, UserError, event_row
from palaestra.store._jsonl import JSONL_FORMAT_VERSION, _problems
from palaestra.store._rows import EpisodeRow, RunRow
from palaestra.store._schema import (
    INSERT_EPISODE,
    INSERT_RUN,
    UPSERT_EPISODE,
    episode_values,
    insert_events,
    run_values,
)
from palaestra.store._sqlite import Store

_RECORD_TYPES = ("run", "episode", "event", "trailer")
_BATCH = 2000
_SHOWN_PROBLEMS = 3
PARTIAL_HINT = (
    "`palaestra import --partial` (partial=True) imports what the file holds and marks the "
    "run interrupted"
)


@dataclass(frozen=True)
class JsonlImport:
    """What `import_jsonl` imported."""

    run_id: str
    """The run's id in the store (the file's, or the one asked for)."""
    episodes: int
    """Episodes imported."""
    events: int
    """Events imported."""
    problems: tuple[str, ...] = ()
    """What kept the file from being whole (only with `partial=True`; empty otherwise)."""

    @property
    def complete(self) -> bool:
        """Whether the trailer proved the file whole (the run keeps its recorded status)."""
        return not self.problems


@contextmanager
def _lines(fp_or_path: str | Path | IO[Any]) -> Iterator[tuple[Iterable[bytes], str]]:
    """The lines of a file (as bytes, line ends kept) and a name for messages."""
    if isinstance(fp_or_path, str | Path):
        try:
            fp = open(fp_or_path, "rb")  # noqa: SIM115 - closed below
        except IsADirectoryError:
            raise UserError(f"{fp_or_path} is a directory; give the exported file") from None
        except FileNotFoundError:
            raise UserError(f"no file {fp_or_path}") from None
        except OSError as exc:
            raise UserError(f"cannot read {fp_or_path}: {exc.strerror}") from None
        with fp:
            yield fp, str(fp_or_path)
        return
    name = str(getattr(fp_or_path, "name", "<stream>"))
    yield ((line.encode("utf-8") if isinstance(line, str) else line) for line in fp_or_path), name


class _Reader:
    """Numbered, parsed records of a JSONL file, hashed as they pass, with errors that
    name file and line. Stops at a line the end of the file cut off (`cut`) and keeps the
    trailer (`trailer`, `digest`: the SHA-256 of the bytes before it) apart."""

    def __init__(self, lines: Iterable[bytes], name: str) -> None:
        self._lines = lines
        self.name = name
        self.lineno = 0
        self.sha256 = hashlib.sha256()
        self.cut: int | None = None
        self.trailer: Any = None
        self.trailer_line = 0
        self.digest = ""

    def error(self, message: str) -> UserError:
        return UserError(f"{self.name}:{self.lineno}: {message}")

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for lineno, raw in enumerate(self._lines, start=1):
            self.lineno = lineno
            if not raw.strip():
                self.sha256.update(raw)
                continue
            if self.trailer is not None:
                raise self.error("a record after the trailer, which ends an exported run")
            ends = raw.endswith(b"\n")
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                if not ends:
                    self.cut = lineno
                    return
                raise self.error(f"not valid UTF-8 (byte {exc.start + 1} of the line)") from None
            except json.JSONDecodeError as exc:
                if not ends:
                    self.cut = lineno
                    return
                raise self.error(f"not valid JSON ({exc.msg}, column {exc.colno})") from None
            except RecursionError:  # json's decoder recurses per level of nesting
                raise self.error("nested too deeply; an exported record is not") from None
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind not in _RECORD_TYPES:
                raise self.error(
                    f'expected an object with "type" one of {", ".join(_RECORD_TYPES)}, '
                    f"got {str(kind if isinstance(obj, dict) else obj)[:80]!r}"
                )
            if kind == "trailer":
                self.trailer, self.trailer_line = obj, lineno
                self.digest = self.sha256.hexdigest()
                continue
            if kind not in obj:
                raise self.error(f"a {kind!r} line has no {kind!r} field")
            self.sha256.update(raw)
            yield kind, obj

    def validate(self, model: type[Any], data: Any, what: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise self.error(f"invalid {what}: {_problems(exc)}") from None


def import_jsonl(
    store: Store,
    fp_or_path: str | Path | IO[Any],
    *,
    run_id: str | None = None,
    partial: bool = False,
) -> JsonlImport:
    """Read a run exported by `export_jsonl` into `store` (module docstring).

    `run_id` imports it under a new id. Rows keep their recorded times (so the run sorts
    by when it was created, not imported). A run id that already exists in the store, an
    invalid line (named by number) or a file its trailer does not prove whole (unless
    `partial`) is a `UserError`; nothing is written then.
    """
    with _lines(fp_or_path) as lines:
        reader = _Reader(lines[0], lines[1])
        records = iter(reader)
        first = next(records, None)
        if first is None:
            what = "a cut first line" if reader.cut else "empty file"
            raise UserError(f"{reader.name}: {what}; expected a palaestra run exported as JSONL")
        kind, obj = first
        if kind != "run":
            raise reader.error(f"the first line must be the run header, got a {kind!r} line")
        run, layout = _header(reader, obj)
        exported_id = run.run_id
        if run_id is not None:
            run = run.model_copy(update={"run_id": run_id})
        if store.get_run(run.run_id) is not None:
            raise UserError(
                f"run {run.run_id!r} already exists in store {store.path}; import it under "
                f"another id (run_id= / --run-id)"
            )
        problems: list[str] = []
        if layout < 2:
            problems.append(
                "it has no trailer (JSONL format 1, written by an older palaestra), so "
                "nothing shows that it is whole"
            )
        with store._transaction() as db:
            db.execute(INSERT_RUN, run_values(run))
            episodes, events = _import_body(db, reader, records, run.run_id, problems, partial)
            if reader.cut is not None:
                problems.insert(0, f"line {reader.cut} is cut off (the file ends inside it)")
            if layout >= 2:
                problems += _trailer_problems(reader, exported_id, episodes, events)
            if problems:
                more = len(problems) - _SHOWN_PROBLEMS
                shown = "; ".join(problems[:_SHOWN_PROBLEMS]) + (
                    f"; and {more} more" if more > 0 else ""
                )
                if not partial:
                    raise UserError(f"{reader.name}: not imported: {shown}. {PARTIAL_HINT}")
                db.execute(
                    "UPDATE runs SET status = 'interrupted', updated_at = ?, reason = ? "
                    "WHERE run_id = ?",
                    (
                        time.time(),
                        f"imported with --partial from {reader.name}: {shown}",
                        run.run_id,
                    ),
                )
    return JsonlImport(run.run_id, episodes, events, tuple(problems))


def _header(reader: _Reader, obj: dict[str, Any]) -> tuple[RunRow, int]:
    """The run row and layout version of a header line; `UserError` for versions this
    palaestra cannot read."""
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION:
        raise reader.error(
            f"written with event schema version {version}; this palaestra reads version "
            f"{SCHEMA_VERSION}: import it with the palaestra release that exported it"
        )
    layout = obj.get("format_version", 1)
    if type(layout) is not int or not 1 <= layout <= JSONL_FORMAT_VERSION:
        raise reader.error(
            f"written with JSONL format_version {layout!r}; this palaestra reads 1 to "
            f"{JSONL_FORMAT_VERSION}: import it with the palaestra release that exported it"
        )
    return reader.validate(RunRow, obj["run"], "run"), layout


def _trailer_problems(reader: _Reader, run_id: str, episodes: int, events: int) -> list[str]:
    """What the trailer says is wrong with the file (nothing when it matches)."""
    trailer = reader.trailer
    if trailer is None:
        if reader.cut is not None:
            return []  # said already: the file is cut
        return [
            f"it ends at line {reader.lineno} without the trailer an export writes last, so "
            f"it is incomplete ({episodes} episodes and {events} events read)"
        ]
    where = f"its trailer (line {reader.trailer_line})"
    fields = {"run_id": str, "episodes": int, "events": int, "sha256": str}
    wrong = [k for k, t in fields.items() if type(trailer.get(k)) is not t]
    if wrong:
        return [f"{where} is malformed: {', '.join(wrong)} missing or of the wrong type"]
    problems = []
    if trailer["run_id"] != run_id:
        problems.append(f"{where} is of run {trailer['run_id']!r}, the header of {run_id!r}")
    if (trailer["episodes"], trailer["events"]) != (episodes, events):
        problems.append(
            f"{where} counts {trailer['episodes']} episodes and {trailer['events']} events, "
            f"the file holds {episodes} and {events}"
        )
    if trailer["sha256"] != reader.digest:
        problems.append(
            f"the SHA-256 of its records ({reader.digest[:12]}...) is not {where}'s "
            f"({trailer['sha256'][:12]}...): the file was changed after export"
        )
    return problems


def _import_body(
    db: Any,
    reader: _Reader,
    lines: Iterator[tuple[str, Any]],
    run_id: str,
    problems: list[str],
    partial: bool,
) -> tuple[int, int]:
    """Insert the episode and event lines that follow the header (inside a transaction);
    returns (episodes, events). A finished episode without all its events is a problem;
    with `partial` it is imported as unfinished."""
    ids: dict[str, int] = {}
    """episode_id -> its `episodes.id` in this store."""
    episode: EpisodeRow | None = None
    episode_line = count = total = 0
    batch: list[tuple[str, int, str, str, int, str]] = []

    def close_episode() -> None:
        if episode is None or episode.status != "finished" or episode.n_events == count:
            return
        problems.append(
            f"episode {episode.episode_id!r} (line {episode_line}) is finished with "
            f"n_events={episode.n_events} but the file holds {count} of its events"
        )
        if partial:
            unfinished = EpisodeRow(
                **episode.model_dump(
                    include={"run_id", "episode_id", "env", "task", "seed", "epoch", "agents"}
                ),
                started_at=episode.started_at,
            )
            db.execute(UPSERT_EPISODE, episode_values(unfinished)).fetchall()

    for kind, obj in lines:
        if kind == "run":
            raise reader.error("a second run header; one file holds one run")
        if kind == "episode":
            close_episode()
            episode = reader.validate(EpisodeRow, obj["episode"], "episode")
            episode = episode.model_copy(update={"run_id": run_id})
            if episode.episode_id in ids:
                raise reader.error(f"episode {episode.episode_id!r} appears twice")
            returned = db.execute(INSERT_EPISODE + " RETURNING id", episode_values(episode))
            ((ids[episode.episode_id],),) = returned.fetchall()
            episode_line, count = reader.lineno, 0
            continue
        if episode is None:
            raise reader.error("an event line before any episode line")
        event: Event = reader.validate(Event, obj["event"], "event")
        if event.episode_id != episode.episode_id:
            raise reader.error(
                f"event of episode {event.episode_id!r} under episode {episode.episode_id!r}"
            )
        if event.seq != count:
            raise reader.error(
                f"episode {episode.episode_id!r}: expected seq {count}, got {event.seq}"
            )
        count += 1
        total += 1
        batch.append(event_row(event))
        if len(batch) >= _BATCH:
            insert_events(db, batch, ids)
            batch.clear()
    close_episode()
    if batch:
        insert_events(db, batch, ids)
    return len(ids), total
