"""`palaestra diagnose RUN [EPISODE]`: why each failed episode failed, and the run's
assurance metrics.

One line per failed episode: the episode, its outcome and end reason, the decisive event
(seq, step, agent, kind), its level/category and confidence, and the explanation; then
the counts per level and category, and the assurance metrics (termination reliability;
with faults, success under faults and containment) overall and per job. `--json` prints
the same as one JSON object, with every finding of every diagnosis. The taxonomy is in
docs/diagnosis.md. Exit status 0 whatever was found.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from palaestra.core import Event


def add_diagnose_parser(sub: Any, store_arg: Any) -> None:
    p = sub.add_parser(
        "diagnose",
        help="the earliest decisive error of each failed episode, with its root cause",
    )
    p.add_argument("run", help="run id, a unique prefix, or 'last'")
    p.add_argument("episode", nargs="?", help="one episode id (or a unique prefix)")
    store_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object, every finding")


def _episode_events(store: Any, run_id: str, episode: str | None) -> list[Event]:
    if episode is None:
        return list(store.iter_events(run_id))
    from palaestra.cli._main import _resolve_episode

    return store.events(run_id, _resolve_episode(store, run_id, episode))


def cmd_diagnose(store: Any, args: argparse.Namespace) -> int:
    from palaestra.assurance import diagnose_run, diagnosis_counts, run_assurance

    run = store.resolve_run(args.run)
    events = _episode_events(store, run.run_id, args.episode)
    diagnoses = diagnose_run(events)
    counts = diagnosis_counts(diagnoses)
    report = run_assurance(events)
    finished = report.overall.episodes
    if args.json:
        print(
            json.dumps(
                {
                    "run": run.run_id,
                    "episodes": finished,
                    "failed": len(diagnoses),
                    "diagnoses": [d.to_dict() for d in diagnoses],
                    "counts": counts,
                    "assurance": report.to_dict(),
                },
                indent=2,
            )
        )
        return 0
    print(f"run {run.run_id}: {len(diagnoses)} of {finished} finished episodes failed")
    for d in diagnoses:
        print(d.describe())
    if counts:
        print("decisive errors by level and category:")
        for level, categories in counts.items():
            total = sum(categories.values())
            shown = ", ".join(f"{name} {n}" for name, n in categories.items())
            print(f"  {level} {total}: {shown}")
    print(assurance_text(report), end="")
    return 0


def assurance_text(report: Any, *, by_job: bool = True) -> str:
    """The `assurance` section: the run's metrics, then (with `by_job`) each job's when
    there are several jobs."""
    lines = ["assurance:"]
    lines += [f"  {line}" for line in report.overall.lines()]
    if by_job and len(report.by_job) > 1:
        for job, metrics in report.by_job.items():
            lines.append(f"  job {job}:")
            lines += [f"    {line}" for line in metrics.lines()]
    return "\n".join(lines) + "\n"


def show_assurance(store: Any, run_id: str) -> str:
    """The assurance section for `palaestra show RUN`, or "" when the run has no
    `fault` event (the metrics are about faults; a run without them shows nothing)."""
    from palaestra.assurance import run_assurance

    events = list(store.iter_events(run_id))
    if not any(e.kind == "fault" for e in events):
        return ""
    text = assurance_text(run_assurance(events), by_job=False)
    return text + f"  per job and per failed episode: palaestra diagnose {run_id}\n"
