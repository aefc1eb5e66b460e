"""`palaestra score RUN --scorer SPEC [...]`: rescore a stored run without rerunning it,
and calibrate a judge against human labels.

```
palaestra score last --scorer includes --scorer '{use: rubric, file: rubric.yaml}'
palaestra score last --scorer '{use: model_graded, model: judge}' --labels human.jsonl
palaestra score RUN --labels human.jsonl --calibrate model_graded   # no rescoring
```

The scores go to a new run (`--run-id`, default `NAME-scored-...`): the source's
episodes copied with the new scorers' events before each `episode_end` (see
`palaestra.runtime._scoring`); no environment or agent model runs. Judges are the
`--model` spec when given, else the models the run's experiment names. The table gives
per job and scorer the mean with a 95% bootstrap interval and the success rate with a
95% Wilson interval.

`--labels FILE` is a JSONL of `{"episode_id": ..., "label": ...}` lines (a grade such as
C/P/I, a bool, or a number): the labels of the scorer `--calibrate NAME` (default: the
only or first new scorer) are compared with them (`palaestra.eval.calibrate`): the judge's
grade for grade labels, its success for bools, its value for numbers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from palaestra.core import UserError

if TYPE_CHECKING:
    from palaestra.core import Event


def add_score_parser(sub: Any, store_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "score", help="rescore a stored run with scorers (new run), calibrate a judge"
    )
    p.add_argument("run", help="run id, a unique prefix, or 'last'")
    p.add_argument(
        "--scorer",
        action="append",
        default=[],
        metavar="SPEC",
        help="a scorer: exact, includes, numeric, python:module:function, a rubric .yaml, "
        "or a mapping like '{use: model_graded, model: judge}' (repeatable)",
    )
    store_arg(p)
    p.add_argument("--run-id", help="id of the new run holding the scores")
    p.add_argument("--model", help="judge model spec for model-graded scorers and rubrics")
    p.add_argument("--base-url", help="OpenAI-compatible server URL for --model")
    p.add_argument("--concurrency", type=int, default=8, help="episodes scored at once")
    p.add_argument("--labels", help="JSONL of human labels: {episode_id, label} per line")
    p.add_argument("--calibrate", metavar="NAME", help="scorer to calibrate against --labels")
    p.add_argument("--json", action="store_true", help="print JSON")


def read_labels(path: str | Path) -> dict[str, Any]:
    """Human labels from a JSONL file of `{"episode_id": ..., "label": ...}` lines."""
    from palaestra._safe_yaml import read_config_text

    labels: dict[str, Any] = {}
    lines = read_config_text(path, what="labels file").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not JSON: {exc}") from None
        except RecursionError:
            raise UserError(f"{path}:{number}: nested too deeply; a label is plain JSON") from None
        if not isinstance(item, dict) or "episode_id" not in item or "label" not in item:
            raise UserError(f'{path}:{number}: expected {{"episode_id": ..., "label": ...}}')
        labels[str(item["episode_id"])] = item["label"]
    if not labels:
        raise UserError(f"{path} holds no labels")
    return labels


def judge_labels(events: list[Event], scorer: str, human: dict[str, Any]) -> dict[str, Any]:
    """The scorer's label of each episode, in the kind the human labels are: its grade
    (`metadata.grade`) for text labels, its success for bools, its value for numbers."""
    from palaestra.core import ScoreEvent

    kinds = {type(v) for v in human.values()}
    out: dict[str, Any] = {}
    for event in events:
        payload = event.payload
        if not isinstance(payload, ScoreEvent) or payload.scorer != scorer or payload.error:
            continue
        if kinds == {bool}:
            out[event.episode_id] = payload.success
        elif kinds <= {int, float}:
            out[event.episode_id] = payload.value
        else:
            grade = payload.metadata.get("grade")
            out[event.episode_id] = grade if grade is not None else payload.success
    return out


def cmd_score(args: argparse.Namespace, store: Any) -> int:
    from palaestra.eval import calibrate, parse_scorer_arg, scorer_rows, scorer_table
    from palaestra.runtime._scoring import rescore

    specs = [parse_scorer_arg(text, default_model=args.model) for text in args.scorer]
    if not specs and not args.labels:
        raise UserError("give --scorer SPEC (repeatable), or --labels to calibrate a scorer")
    out: dict[str, Any] = {}
    source = store.resolve_run(args.run)
    run_id = source.run_id
    if specs:
        import asyncio

        result = asyncio.run(
            rescore(
                store,
                source.run_id,
                specs,
                new_run_id=args.run_id,
                model=args.model,
                base_url=args.base_url,
                concurrency=args.concurrency,
            )
        )
        run_id = result.run_id
        rows = result.rows
        out.update(
            run_id=result.run_id,
            source_run_id=result.source_run_id,
            episodes=result.episodes,
            skipped=result.skipped,
        )
    else:
        rows = scorer_rows(store, run_id)
        out.update(run_id=run_id)
    out["rows"] = [row.to_json() for row in rows]
    calibration = None
    if args.labels:
        human = read_labels(args.labels)
        names = [s.label for s in specs] or sorted({r.scorer for r in rows if r.scorer != "env"})
        name = args.calibrate or (names[0] if names else None)
        if name is None:
            raise UserError(f"run {run_id!r} has no scorer to calibrate; give --scorer")
        events = list(store.iter_events(run_id, kinds=["score"]))
        labels = judge_labels(events, name, human)
        if not labels:
            raise UserError(f"run {run_id!r} has no scores of scorer {name!r} to calibrate")
        calibration = calibrate(labels, human)
        out["calibration"] = {"scorer": name, **calibration.to_json()}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    if specs:
        skipped = f" ({out['skipped']} unfinished skipped)" if out["skipped"] else ""
        print(
            f"scored {out['episodes']} episodes of run {out['source_run_id']} into run "
            f"{run_id}{skipped}"
        )
    print(scorer_table(rows), end="")
    if calibration is not None:
        print(f"calibration of scorer {out['calibration']['scorer']!r}:")
        print(calibration.describe())
    if specs:
        print(f"inspect: palaestra show {run_id} --store {store.path}")
    return 0
