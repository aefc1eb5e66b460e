"""`Store.run_summary`: a run's counts and means, overall and per environment.

Computed with SQL aggregates over the `episodes` table (one row per episode), so that it
costs the same for a run of a hundred events or a hundred million. Only running episodes
need their events counted (finished ones carry `n_events`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from palaestra.store._rows import RunRow

_AGGREGATES = """
SELECT {env},
    COUNT(*),
    COALESCE(SUM(status = 'running'), 0),
    COALESCE(SUM(status = 'finished'), 0),
    COALESCE(SUM(outcome = 'success'), 0),
    COALESCE(SUM(outcome = 'failure'), 0),
    COALESCE(SUM(outcome = 'error'), 0),
    AVG(CASE WHEN status = 'finished' THEN score END),
    AVG(CASE WHEN status = 'finished' THEN steps END),
    AVG(CASE WHEN status = 'finished' THEN total_reward END),
    COALESCE(SUM(n_events), 0),
    COALESCE(SUM(input_tokens), 0),
    COALESCE(SUM(output_tokens), 0),
    COALESCE(SUM(wall_s), 0.0),
    AVG(CASE WHEN status = 'finished' THEN wall_s END)
FROM episodes WHERE run_id = ? {group}
"""

_RUNNING_EVENTS = """
SELECT ep.env, COUNT(*) FROM episodes AS ep
JOIN events AS ev ON ev.episode = ep.id
WHERE ep.run_id = ? AND ep.status = 'running' GROUP BY ep.env
"""


def _stats(values: tuple[Any, ...], running_events: int) -> dict[str, Any]:
    (
        _env,
        n,
        running,
        finished,
        success,
        failure,
        error,
        mean_score,
        mean_steps,
        mean_reward,
        n_events,
        input_tokens,
        output_tokens,
        wall_s,
        mean_wall_s,
    ) = values
    return {
        "episodes": n,
        "by_status": {"running": running, "finished": finished},
        "by_outcome": {"success": success, "failure": failure, "error": error},
        "success_rate": success / finished if finished else None,
        "mean_score": mean_score,
        "mean_steps": mean_steps,
        "mean_reward": mean_reward,
        "events": n_events + running_events,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "wall_s": wall_s,
        "mean_wall_s": mean_wall_s,
    }


def summarise(db: sqlite3.Connection, run: RunRow) -> dict[str, Any]:
    """A run's summary as plain data.

    Keys (overall, and the same under `per_env[env]`): `episodes`; `by_status`
    (running, finished); `by_outcome` (success, failure, error); `success_rate`
    (successes / finished, None before any finished); `mean_score` (finished episodes
    with a score), `mean_steps`, `mean_reward`, `mean_wall_s` (finished episodes);
    `events` (stored, running episodes included); `input_tokens`, `output_tokens`,
    `total_tokens`, `wall_s` (sums). Overall also: `run_id`, `name`, `status`.
    """
    running_events = dict(db.execute(_RUNNING_EVENTS, (run.run_id,)).fetchall())
    by_env = _AGGREGATES.format(env="env", group="GROUP BY env ORDER BY env")
    rows = db.execute(by_env, (run.run_id,)).fetchall()
    per_env = {values[0]: _stats(values, running_events.get(values[0], 0)) for values in rows}
    total = db.execute(_AGGREGATES.format(env="''", group=""), (run.run_id,)).fetchone()
    overall = _stats(total, sum(running_events.values()))
    return {
        "run_id": run.run_id,
        "name": run.name,
        "status": run.status,
        **overall,
        "per_env": per_env,
    }
