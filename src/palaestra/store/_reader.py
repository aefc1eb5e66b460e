"""`ReadOnlyStore`: the store's public reader API over one store file — read-only,
paginated, safe across threads — for the viewer and anyone else who reads a store while
a run may be writing it. Nobody outside `palaestra.store` writes SQL against the store's
tables: they read through this class or `Store`'s reading methods.

Every page method is one bounded query (or two: a page and its count) on an index the
store keeps. No page reads more than its own events: what a page costs grows with the
number of episodes in one run (counts, filters, facets scan that run's episode rows),
never with the number of events in the store:

- `runs`: `ORDER BY created_at DESC LIMIT/OFFSET` (index `runs_by_created`), then the
  page's runs' episode counts (`episodes_by_run`);
- `episodes`: `WHERE run_id = ? AND filters ORDER BY id LIMIT/OFFSET` and its `COUNT(*)`
  (`episodes_by_run`, whose entries are (run_id, id));
- `events`: `WHERE episode = ? AND seq > ? ORDER BY seq LIMIT ?`, keyset pages on the
  primary key (episode, seq); `event`: one primary-key lookup;
- `facets`: `GROUP BY` env / job / agent / outcome over one run's episode rows;
- `episode_log`: one episode's events as a `palaestra.core.EpisodeLog` (the whole
  episode: for the readers that index it, not for pages).

Nothing reads a whole run's events. The file is opened read-only (`mode=ro`, `query_only`)
after one `Store` open has checked its schema versions and created the indexes; a run
writing to the same file meanwhile is fine (WAL: each query sees the last commit).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from palaestra.core import PAYLOADS, EpisodeLog, UserError, decode_event
from palaestra.store._schema import (
    EPISODE_COLUMNS,
    SELECT_RUN,
    episode_from_values,
    run_from_values,
)
from palaestra.store._sqlite import Store
from palaestra.store._summary import summarise

OUTCOMES = ("success", "failure", "error", "running")
"""Valid values of the outcome filter (`running`: not finished yet)."""
MAX_LIMIT = 1000
"""Largest page any endpoint returns."""
FACET_LIMIT = 200
"""Most distinct values a facet lists."""
MAX_ID = 2**63 - 1
"""Largest integer a query takes (ids, seqs, offsets): SQLite's largest integer."""
MAX_TEXT = 1000
"""Longest text a query takes (a run reference, an id, a filter); SQLite refuses LIKE
patterns over 50,000 bytes, and no id or filter of a real store is this long."""
MAX_VALUES = 64
"""Most distinct values of a list parameter (outcomes, event kinds)."""

_AGENTS = (
    "CASE WHEN episodes.agents != '[]' THEN episodes.agents ELSE COALESCE(("
    "SELECT json_extract(ev.json, '$.payload.agents') FROM events AS ev "
    "WHERE ev.episode = episodes.id AND ev.seq = 0), '[]') END"
)
"""An episode's agents: its row's list, or, where the row has none (the runner starts the
row before the environment says who its agents are), the list in its `episode_start`
event (seq 0: one primary-key lookup)."""
_EPISODE_SELECT = "SELECT id, {} FROM episodes".format(
    ", ".join(_AGENTS if c == "agents" else c for c in EPISODE_COLUMNS)
)
_JOB = "CASE WHEN instr(episode_id, '/') > 0 THEN substr(episode_id, 1, instr(episode_id, '/') - 1) ELSE episode_id END"  # noqa: E501
"""The job label of an episode: the first part of its id (`job/task/seed/epoch`)."""


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching itself (with `ESCAPE '\\'`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class EpisodeFilter:
    """Which episodes of a run to list; every field left empty matches all."""

    outcome: tuple[str, ...] = ()
    """Any of `OUTCOMES`."""
    env: str | None = None
    """Registered environment id, exactly."""
    job: str | None = None
    """Job label (the first part of the episode id), exactly."""
    agent: str | None = None
    """An agent the episode has, exactly (an entry of `EpisodeRow.agents`)."""
    task: str | None = None
    """Text found in the task id or the episode id (case-insensitive for ASCII)."""
    score_min: float | None = None
    """Lowest score (episodes without a score are left out when a bound is set)."""
    score_max: float | None = None
    """Highest score."""

    def where(self, run_id: str) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters; a `UserError` for an unknown outcome."""
        for name in ("env", "job", "agent", "task"):
            check_text(name, getattr(self, name))
        for name in ("score_min", "score_max"):
            bound = getattr(self, name)
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, int | float)
                or not math.isfinite(bound)
            ):
                raise UserError(f"{name} must be a finite number, got {bound!r}")
        unknown = [o for o in self.outcome if o not in OUTCOMES]
        if unknown:
            raise UserError(f"unknown outcome {unknown[0]!r}; valid choices: {', '.join(OUTCOMES)}")
        if (
            self.score_min is not None
            and self.score_max is not None
            and self.score_min > self.score_max
        ):
            raise UserError(
                f"score_min {self.score_min} is above score_max {self.score_max}; "
                f"give score_min <= score_max"
            )
        clauses = ["run_id = ?"]
        params: list[Any] = [run_id]
        if self.outcome:
            parts = []
            finished = sorted({o for o in self.outcome if o != "running"})
            if finished:
                parts.append(f"outcome IN ({', '.join('?' * len(finished))})")
                params += finished
            if "running" in self.outcome:
                parts.append("status = 'running'")
            clauses.append("(" + " OR ".join(parts) + ")")
        if self.env:
            clauses.append("env = ?")
            params.append(self.env)
        if self.job:
            clauses.append("(episode_id = ? OR episode_id LIKE ? ESCAPE '\\')")
            params += [self.job, _like(self.job) + "/%"]
        if self.agent:
            clauses.append(f"EXISTS (SELECT 1 FROM json_each({_AGENTS}) WHERE value = ?)")
            params.append(self.agent)
        if self.task:
            pattern = f"%{_like(self.task)}%"
            clauses.append("(task LIKE ? ESCAPE '\\' OR episode_id LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        if self.score_min is not None:
            clauses.append("score >= ?")
            params.append(self.score_min)
        if self.score_max is not None:
            clauses.append("score <= ?")
            params.append(self.score_max)
        return " AND ".join(clauses), params


def _check_page(limit: int, offset: int = 0) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise UserError(f"limit must be 1..{MAX_LIMIT}, got {limit}")
    check_int("offset", offset, 0)


def check_int(name: str, value: int, low: int) -> None:
    """A `UserError` unless `value` is an integer in `low..MAX_ID`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= MAX_ID:
        raise UserError(f"{name} must be {low}..{MAX_ID} (2**63 - 1), got {value}")


def check_text(name: str, value: str | None) -> None:
    """A `UserError` unless `value` is None or a text of at most `MAX_TEXT` characters."""
    if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
        length = len(value) if isinstance(value, str) else type(value).__name__
        raise UserError(f"{name} must be a text of at most {MAX_TEXT} characters, got {length}")


class NotFound(UserError):
    """A run, episode or event the store does not have (the API answers 404)."""


class ReadOnlyStore:
    """Read-only, paged queries over the store file at `path` (safe across threads)."""

    MAX_LIMIT = MAX_LIMIT
    """Largest page any method returns."""
    MAX_TEXT = MAX_TEXT
    """Longest text any method takes (a run reference, an id, a filter)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(
                f"no event store at {self.path}; run an experiment first "
                f"(`palaestra run EXPERIMENT.yaml`) or pass --store"
            )
        Store(self.path).close()  # checks the schema versions; creates missing indexes
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA query_only=1")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ReadOnlyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
            return row

    # -- runs --------------------------------------------------------------------------

    def runs(self, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """A page of runs, newest first, each with its episode counts (no experiment)."""
        _check_page(limit, offset)
        rows = self._all(
            SELECT_RUN + " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        runs = [run_from_values(values) for values in rows]
        (total,) = self._one("SELECT COUNT(*) FROM runs") or (0,)
        counts: dict[str, dict[str, Any]] = {}
        if runs:
            marks = ", ".join("?" * len(runs))
            for run_id, *numbers in self._all(
                "SELECT run_id, COUNT(*), SUM(status = 'running'), SUM(outcome = 'success'), "
                "SUM(outcome = 'failure'), SUM(outcome = 'error'), AVG(score), SUM(n_events) "
                f"FROM episodes WHERE run_id IN ({marks}) GROUP BY run_id",
                [run.run_id for run in runs],
            ):
                n, running, success, failure, error, mean_score, events = numbers
                finished = n - running
                counts[run_id] = {
                    "episodes": n,
                    "running": running,
                    "success": success,
                    "failure": failure,
                    "error": error,
                    "success_rate": success / finished if finished else None,
                    "mean_score": mean_score,
                    "events": events,
                }
        items = []
        for run in runs:
            item = run.model_dump(mode="json", exclude={"experiment"})
            item.update(
                counts.get(run.run_id)
                or {
                    "episodes": 0,
                    "running": 0,
                    "success": 0,
                    "failure": 0,
                    "error": 0,
                    "success_rate": None,
                    "mean_score": None,
                    "events": 0,
                }
            )
            items.append(item)
        return {
            "store": str(self.path),
            "items": items,
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    def resolve_run(self, ref: str) -> str:
        """The run id named by `ref`: an exact id, `last` (newest), or a unique prefix."""
        check_text("run", ref)
        if ref == "last":
            found = self._one("SELECT run_id FROM runs ORDER BY created_at DESC, rowid DESC")
            if found is None:
                raise NotFound(f"no runs in store {self.path} yet")
            return str(found[0])
        if self._one("SELECT 1 FROM runs WHERE run_id = ?", (ref,)):
            return ref
        matches = [
            run_id
            for (run_id,) in self._all(
                "SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\' LIMIT 6",
                (_like(ref) + "%",),
            )
        ]
        if len(matches) == 1 and ref:
            return matches[0]
        if matches and ref:
            raise UserError(f"run reference {ref!r} is ambiguous: {', '.join(matches)} ...")
        newest = [
            r for (r,) in self._all("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 5")
        ]
        raise NotFound(
            f"no run {ref!r} in store {self.path}; valid choices: 'last', a unique prefix or "
            f"a run id (newest: {', '.join(newest) or 'none'})"
        )

    def run(self, ref: str) -> dict[str, Any]:
        """One run: its row (experiment included) and `summary` (see `Store.run_summary`)."""
        run_id = self.resolve_run(ref)
        values = self._one(SELECT_RUN + " WHERE run_id = ?", (run_id,))
        if values is None:
            raise NotFound(f"no run {run_id!r} in store {self.path}")
        row = run_from_values(values)
        with self._lock:
            summary = summarise(self._conn, row)
        return {**row.model_dump(mode="json"), "summary": summary}

    def facets(self, ref: str) -> dict[str, Any]:
        """What the episode filters can choose from in a run, with counts: envs, jobs,
        agents, outcomes (at most `FACET_LIMIT` values each)."""
        run_id = self.resolve_run(ref)
        p = (run_id, FACET_LIMIT)
        return {
            "env": self._all(
                "SELECT env, COUNT(*) FROM episodes WHERE run_id = ? GROUP BY env "
                "ORDER BY env LIMIT ?",
                p,
            ),
            "job": self._all(
                f"SELECT {_JOB} AS job, COUNT(*) FROM episodes WHERE run_id = ? GROUP BY job "
                "ORDER BY MIN(id) LIMIT ?",
                p,
            ),
            "agent": self._all(
                f"SELECT agent.value, COUNT(*) FROM episodes, json_each({_AGENTS}) AS agent "
                "WHERE episodes.run_id = ? GROUP BY agent.value "
                "ORDER BY MIN(episodes.id), agent.value LIMIT ?",
                p,
            ),
            "outcome": self._all(
                "SELECT COALESCE(outcome, 'running') AS o, COUNT(*) FROM episodes "
                "WHERE run_id = ? GROUP BY o ORDER BY o LIMIT ?",
                p,
            ),
        }

    # -- episodes ----------------------------------------------------------------------

    @staticmethod
    def _episode_item(values: tuple[Any, ...]) -> dict[str, Any]:
        row = episode_from_values(values[1:])
        return {"id": values[0], **row.model_dump(mode="json")}

    def episodes(
        self,
        ref: str,
        where: EpisodeFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """A page of a run's episodes in start order, filtered, with the filtered total."""
        _check_page(limit, offset)
        run_id = self.resolve_run(ref)
        condition, params = (where or EpisodeFilter()).where(run_id)
        rows = self._all(
            f"{_EPISODE_SELECT} WHERE {condition} ORDER BY id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        (total,) = self._one(f"SELECT COUNT(*) FROM episodes WHERE {condition}", params) or (0,)
        return {
            "run_id": run_id,
            "items": [self._episode_item(values) for values in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    def episode(
        self, episode: int | None = None, *, run: str = "", episode_id: str = ""
    ) -> dict[str, Any]:
        """One episode row by its store id, or by run reference and episode id; with
        `n_events` counted for a running one and its agents as `lanes`."""
        if episode is not None:
            check_int("id", episode, 0)
            values = self._one(f"{_EPISODE_SELECT} WHERE id = ?", (episode,))
            missing = f"no episode with id {episode} in store {self.path}"
        else:
            check_text("episode_id", episode_id)
            run_id = self.resolve_run(run)
            values = self._one(
                f"{_EPISODE_SELECT} WHERE run_id = ? AND episode_id = ?", (run_id, episode_id)
            )
            missing = f"run {run_id!r} has no episode {episode_id!r}"
        if values is None:
            raise NotFound(missing)
        item = self._episode_item(values)
        if item["status"] == "running":
            (count,) = self._one(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM events WHERE episode = ?", (item["id"],)
            ) or (0,)
            item["n_events"] = count
        item["lanes"] = ["env", *item["agents"]]
        return item

    # -- events ------------------------------------------------------------------------

    def events(
        self,
        episode: int,
        *,
        after_seq: int = -1,
        limit: int = 200,
        kinds: tuple[str, ...] = (),
        agent: str | None = None,
    ) -> dict[str, Any]:
        """A page of an episode's events with `seq > after_seq`, in seq order, each its
        stored JSON parsed; `next_after_seq` continues it (None at the end). `kinds` keeps
        those kinds; `agent` keeps that agent and its internal agents."""
        _check_page(limit)
        check_int("episode", episode, 0)
        check_int("after_seq", after_seq, -1)
        check_text("agent", agent)
        kinds = tuple(dict.fromkeys(kinds))
        unknown = [k for k in kinds if k not in PAYLOADS]
        if unknown:
            raise UserError(
                f"unknown event kind {unknown[0]!r}; valid choices: {', '.join(PAYLOADS)}"
            )
        if self._one("SELECT 1 FROM episodes WHERE id = ?", (episode,)) is None:
            raise NotFound(f"no episode with id {episode} in store {self.path}")
        sql = "SELECT json FROM events WHERE episode = ? AND seq > ?"
        params: list[Any] = [episode, after_seq]
        if kinds:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params += list(kinds)
        if agent:
            sql += " AND (agent = ? OR agent LIKE ? ESCAPE '\\')"
            params += [agent, _like(agent) + "/%"]
        rows = self._all(sql + " ORDER BY seq LIMIT ?", [*params, limit + 1])
        more = len(rows) > limit
        items = [json.loads(text) for (text,) in rows[:limit]]
        return {
            "episode": episode,
            "items": items,
            "limit": limit,
            "next_after_seq": items[-1]["seq"] if more else None,
        }

    def event(self, episode: int, seq: int) -> dict[str, Any]:
        """One event's stored JSON, parsed."""
        check_int("episode", episode, 0)
        check_int("seq", seq, 0)
        found = self._one("SELECT json FROM events WHERE episode = ? AND seq = ?", (episode, seq))
        if found is None:
            raise NotFound(f"episode {episode} has no event {seq} in store {self.path}")
        data: dict[str, Any] = json.loads(found[0])
        return data

    def episode_log(self, episode: int) -> EpisodeLog:
        """All events of the episode with store id `episode`, as an `EpisodeLog`."""
        check_int("episode", episode, 0)
        if self._one("SELECT 1 FROM episodes WHERE id = ?", (episode,)) is None:
            raise NotFound(f"no episode with id {episode} in store {self.path}")
        rows = self._all("SELECT json FROM events WHERE episode = ? ORDER BY seq", (episode,))
        return EpisodeLog(decode_event(text) for (text,) in rows)
