"""JSONL export and import of one run: a plain, self-describing text form of a run.

```
{"type":"run","schema_version":1,"run":{...RunRow...}}          first line
{"type":"episode","episode":{...EpisodeRow...}}                 one per episode, in start order
{"type":"event","event":{...Event...}}                          its events, by seq
...
```

Events are written exactly as stored (`Event.to_json`), so export costs no parsing, and
`store -> jsonl -> new store -> jsonl` gives byte-identical files. Unfinished episodes are
exported with their status and whatever events were stored. Import validates every line
(an error names the file and line number) and writes the run in one transaction: a file
with a bad line imports nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from palaestra.core import SCHEMA_VERSION, Event, UserError
from palaestra.store._rows import EpisodeRow, RunRow
from palaestra.store._schema import (
    INSERT_EPISODE,
    INSERT_RUN,
    episode_values,
    insert_events,
    run_values,
)
from palaestra.store._sqlite import Store

_LINE_TYPES = ("run", "episode", "event")
_BATCH = 2000


@contextmanager
def _opened(fp_or_path: str | Path | IO[str], mode: str) -> Iterator[tuple[IO[str], str]]:
    """A text stream and a name for messages, from a path or an open stream."""
    if isinstance(fp_or_path, str | Path):
        with open(fp_or_path, mode, encoding="utf-8", newline="\n") as fp:
            yield fp, str(fp_or_path)
    else:
        yield fp_or_path, str(getattr(fp_or_path, "name", "<stream>"))


def export_jsonl(store: Store, run_id: str, fp_or_path: str | Path | IO[str]) -> int:
    """Write run `run_id` as JSONL to a path or text stream; returns the events written."""
    run = store.get_run(run_id)
    if run is None:
        raise UserError(f"no run {run_id!r} in store {store.path}")
    header = {"type": "run", "schema_version": SCHEMA_VERSION, "run": run.model_dump(mode="json")}
    written = 0
    with _opened(fp_or_path, "w") as (fp, _name):
        fp.write(json.dumps(header, ensure_ascii=False, separators=(",", ":")) + "\n")
        for row in store.episodes(run_id):
            fp.write('{"type":"episode","episode":' + row.model_dump_json() + "}\n")
            texts = store._event_json(run_id, row.episode_id)
            fp.writelines('{"type":"event","event":' + text + "}\n" for text in texts)
            written += len(texts)
    return written


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


class _Reader:
    """Numbered, parsed lines of a JSONL file, with errors that name file and line."""

    def __init__(self, lines: Iterable[str], name: str) -> None:
        self._lines = lines
        self.name = name
        self.lineno = 0

    def error(self, message: str) -> UserError:
        return UserError(f"{self.name}:{self.lineno}: {message}")

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for lineno, line in enumerate(self._lines, start=1):
            self.lineno = lineno
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise self.error(f"not valid JSON ({exc.msg}, column {exc.colno})") from None
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind not in _LINE_TYPES:
                raise self.error(
                    f'expected an object with "type" one of {", ".join(_LINE_TYPES)}, '
                    f"got {str(kind if isinstance(obj, dict) else obj)[:80]!r}"
                )
            if kind not in obj:
                raise self.error(f"a {kind!r} line has no {kind!r} field")
            yield kind, obj

    def validate(self, model: type[Any], data: Any, what: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise self.error(f"invalid {what}: {_problems(exc)}") from None


def import_jsonl(
    store: Store, fp_or_path: str | Path | IO[str], *, run_id: str | None = None
) -> str:
    """Read a run exported by `export_jsonl` into `store`; returns its run id.

    `run_id` imports it under a new id. Rows keep their recorded times (so the run sorts
    by when it was created, not imported). A run id that already exists in the store is a
    `UserError`, as is any invalid line (named by number); nothing is written then.
    """
    with _opened(fp_or_path, "r") as (fp, name):
        reader = _Reader(fp, name)
        lines = iter(reader)
        first = next(lines, None)
        if first is None:
            raise UserError(f"{name}: empty file; expected a palaestra run exported as JSONL")
        kind, obj = first
        if kind != "run":
            raise reader.error(f"the first line must be the run header, got a {kind!r} line")
        version = obj.get("schema_version")
        if version != SCHEMA_VERSION:
            raise reader.error(
                f"written with event schema version {version}; this palaestra reads version "
                f"{SCHEMA_VERSION}: import it with the palaestra release that exported it"
            )
        run: RunRow = reader.validate(RunRow, obj["run"], "run")
        if run_id is not None:
            run = run.model_copy(update={"run_id": run_id})
        if store.get_run(run.run_id) is not None:
            raise UserError(
                f"run {run.run_id!r} already exists in store {store.path}; import it under "
                f"another id (run_id= / --run-id)"
            )
        with store._transaction() as db:
            db.execute(INSERT_RUN, run_values(run))
            _import_body(db, reader, lines, run.run_id)
    return run.run_id


def _import_body(db: Any, reader: _Reader, lines: Iterator[tuple[str, Any]], run_id: str) -> None:
    """Insert the episode and event lines that follow the header (inside a transaction)."""
    ids: dict[str, int] = {}
    """episode_id -> its `episodes.id` in this store."""
    episode: EpisodeRow | None = None
    count = 0
    batch: list[tuple[str, int, str, str, int, str]] = []

    def close_episode() -> None:
        if episode is not None and episode.status == "finished" and episode.n_events != count:
            raise reader.error(
                f"episode {episode.episode_id!r} is finished with n_events={episode.n_events} "
                f"but the file holds {count} of its events"
            )

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
            count = 0
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
        batch.append(
            (
                event.episode_id,
                event.seq,
                event.kind,
                event.agent,
                event.step,
                event.to_json(),
            )
        )
        if len(batch) >= _BATCH:
            insert_events(db, batch, ids)
            batch.clear()
    close_episode()
    if batch:
        insert_events(db, batch, ids)
