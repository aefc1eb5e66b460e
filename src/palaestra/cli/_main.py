"""The `palaestra` command: run, eval, compare, shapley, report, paired, diagnose, check,
runs, show, export, import, replay, envs.

User errors (a bad experiment file, an unknown run or environment) print one clear
message and exit with status 2; a replay that differs, or a `check` that finds a
contract violated, exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from palaestra.cli._args import check_args, check_argv, user_path_error
from palaestra.cli._check import add_check_parser, add_show_options, cmd_check, show_event
from palaestra.cli._compare import add_compare_parser, cmd_compare
from palaestra.cli._diagnose import add_diagnose_parser, cmd_diagnose, show_assurance
from palaestra.cli._doctor import add_doctor_parser, cmd_doctor
from palaestra.cli._episodes import resolve_episode as _resolve_episode
from palaestra.cli._eval import add_eval_parser, cmd_eval, governance_section
from palaestra.cli._export import add_export_parsers, cmd_export, cmd_import
from palaestra.cli._plugins import add_plugins_parser, cmd_plugins
from palaestra.cli._render import when
from palaestra.cli._report import add_report_parser, cmd_paired, cmd_report
from palaestra.cli._score import add_score_parser, cmd_score
from palaestra.cli._serve import add_serve_env_parser, cmd_serve_env
from palaestra.cli._shapley import add_shapley_parser, cmd_shapley
from palaestra.cli._stress import add_stress_parser, cmd_stress
from palaestra.cli._terminal import printable, safe_stdout
from palaestra.cli._train import add_train_parser, cmd_train
from palaestra.cli._view import add_view_parser, cmd_view
from palaestra.core import PalaestraError, UserError, import_modules

OPENAI_HINT = (
    "palaestra run {experiment} --model openai:MODEL --base-url http://HOST:PORT/v1"
    "   # any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, LM Studio); "
    "key from OPENAI_API_KEY"
)


def _store_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        help="SQLite event store (default: $PALAESTRA_STORE or runs/palaestra.db)",
    )


def _at_least_one(text: str) -> int:
    """A whole number of at least 1 (`--concurrency`): 0 would run nothing."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="palaestra",
        description="Run, check, evaluate and train LLM agents over one event log.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run an experiment file")
    p.add_argument("experiment", help="experiment YAML file")
    p.add_argument("--run-id", help="name the run; an existing id resumes it")
    _store_arg(p)
    p.add_argument("--model", help="model spec for every LLM operator, e.g. openai:gpt-4o-mini")
    p.add_argument("--base-url", help="OpenAI-compatible server URL for --model")
    p.add_argument("--concurrency", type=_at_least_one, help="episodes in flight (at least 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--faults", help="fault plan file: replaces the experiment's `faults:` (docs/faults.md)"
    )

    p = sub.add_parser("runs", help="list the runs in the store")
    _store_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("show", help="a run's summary and episodes, or one episode's events")
    p.add_argument("run", help="run id, a unique prefix, or 'last'")
    p.add_argument("episode", nargs="?", help="episode id (or a unique prefix)")
    _store_arg(p)
    p.add_argument("--json", action="store_true")
    add_show_options(p)

    add_export_parsers(sub, _store_arg)

    p = sub.add_parser("replay", help="re-run episodes with recorded model replies; compare")
    p.add_argument("run")
    p.add_argument("episode", nargs="?")
    _store_arg(p)

    p = sub.add_parser("envs", help="list registered environments and their parameters")
    p.add_argument("--json", action="store_true")

    add_check_parser(sub, _store_arg)
    add_compare_parser(sub, _store_arg)
    add_diagnose_parser(sub, _store_arg)
    add_doctor_parser(sub)
    add_eval_parser(sub, _store_arg)
    add_plugins_parser(sub)
    add_report_parser(sub, _store_arg)
    add_score_parser(sub, _store_arg)
    add_serve_env_parser(sub)
    add_shapley_parser(sub, _store_arg)
    add_stress_parser(sub, _store_arg)
    add_train_parser(sub, _store_arg)
    add_view_parser(sub, _store_arg)
    for command in _RESOLVES_ENVS:  # plugins registered by a script (docs/extending.md)
        sub.choices[command].add_argument(
            "--import",
            dest="imports",
            action="append",
            default=[],
            metavar="MODULE",
            help="import MODULE first, for what it registers: environments, model providers, "
            "scorers, contracts, export formats (repeatable)",
        )
    return parser


_RESOLVES_ENVS = (
    *("run", "replay", "envs", "eval", "serve-env", "stress", "shapley", "train", "score"),
    *("check", "export", "plugins"),
)
"""The commands that build environments, models, scorers, contracts or exports: they
take `--import MODULE`."""


def main(argv: list[str] | None = None) -> int:
    try:
        check_argv(sys.argv[1:] if argv is None else argv)  # UTF-8 text, no NUL
    except UserError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        # --import MODULE first: what it registers (a model provider) is a valid flag value
        import_modules(getattr(args, "imports", None) or [])
        check_args(args)  # every flag's value, by its name (cli/_args.py)
        with safe_stdout():  # recorded text cannot drive the terminal (cli/_terminal.py)
            return int(_dispatch(args) or 0)
    except PalaestraError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command with the same --run-id to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`palaestra envs | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # on a path the user gave: theirs to fix; any other: a bug
        message = user_path_error(exc, args)
        if message is None:
            raise
        print(f"error: {printable(message)}", file=sys.stderr)
        return 2


def _open_store(args: argparse.Namespace) -> Any:
    from palaestra.runtime import default_store_path
    from palaestra.store import Store

    path = Path(args.store) if args.store else default_store_path()
    if args.command != "import" and not path.exists():
        raise UserError(f"no event store at {path}; run an experiment first or pass --store")
    return Store(path)


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "run":
        return _cmd_run(args)
    if command == "compare":
        return cmd_compare(args)
    if command == "train":
        return cmd_train(args)
    if command == "shapley":
        return cmd_shapley(args)
    if command == "stress":
        return cmd_stress(args)
    if command == "eval":
        return cmd_eval(args)
    if command == "envs":
        return _cmd_envs(args)
    if command == "plugins":
        return cmd_plugins(args)
    if command == "serve-env":
        return cmd_serve_env(args)
    if command == "view":
        return cmd_view(args)
    if command == "doctor":
        return cmd_doctor(args)
    with _open_store(args) as store:
        if command == "runs":
            return _cmd_runs(store, args)
        if command == "show":
            return _cmd_show(store, args)
        if command == "check":
            return cmd_check(store, args, _resolve_episode)
        if command == "export":
            return cmd_export(store, args)
        if command == "import":
            return cmd_import(store, args)
        if command == "replay":
            return _cmd_replay(store, args)
        if command == "score":
            return cmd_score(args, store)
        if command == "report":
            return cmd_report(store, args)
        if command == "paired":
            return cmd_paired(store, args)
        if command == "diagnose":
            return cmd_diagnose(store, args)
    raise AssertionError(command)


def _cmd_run(args: argparse.Namespace) -> int:
    from palaestra.runtime import run

    experiment: Any = args.experiment
    if args.faults:
        from palaestra.runtime import Experiment, load_fault_plan, with_faults

        experiment = with_faults(Experiment.from_yaml(experiment), load_fault_plan(args.faults))
    result = run(
        experiment,
        run_id=args.run_id,
        store=args.store,
        model=args.model,
        base_url=args.base_url,
        concurrency=args.concurrency,
        progress=not args.quiet,
    )
    print(result.table(), end="")
    _print_reliability(result.episodes)
    resumed = f" ({result.skipped} episodes were already finished)" if result.skipped else ""
    print(f"run {result.run_id} stored in {result.store_path}{resumed}")
    print(f"inspect: palaestra show {result.run_id} --store {result.store_path}")
    print("same experiment on any OpenAI-compatible server:")
    print("  " + OPENAI_HINT.format(experiment=args.experiment))
    return 0


def _print_reliability(rows: list[Any]) -> None:
    """tau-bench's pass^k of every job whose tasks were each tried more than once."""
    from palaestra.eval import pass_hat_k_by_job

    for job, values in pass_hat_k_by_job(rows).items():
        shown = "  ".join(f"pass^{k}={v:.3f}" for k, v in enumerate(values, start=1))
        print(f"reliability {job}: {shown}")


def _cmd_envs(args: argparse.Namespace) -> int:
    from palaestra.envs import ENVIRONMENTS

    rows = ENVIRONMENTS.survey()  # an installed plugin that fails: a row, not a failure
    if args.json:
        out: dict[str, Any] = {}
        for row in rows:
            if row.error:
                out[row.name] = {"error": row.error, "source": row.source}
                continue
            spec = row.entry
            out[row.name] = {
                "description": spec.description,
                "params": spec.describe_params(),
                "baseline": spec.baseline is not None,
                "reusable": spec.reuses(spec.factory),
            }
        print(json.dumps(out, indent=2, default=str))
        return 0
    for row in rows:
        if row.error:
            print(f"{row.name}  (BROKEN)  {row.source}")
            print(f"    {row.error}")
            continue
        spec = row.entry
        baseline = "baseline" if spec.baseline is not None else "no baseline"
        reuse = ", reusable" if spec.reuses(spec.factory) else ""
        first_line = spec.description.splitlines()[0] if spec.description else ""
        print(f"{row.name}  ({baseline}{reuse})  {first_line}")
        for param in spec.describe_params():
            default = "required" if param["required"] else f"default {param['default']!r}"
            print(f"    {param['name']}: {param['type']} ({default}) {param['description']}")
    return 0


def _cmd_runs(store: Any, args: argparse.Namespace) -> int:
    runs = store.list_runs()
    if args.json:
        print(
            json.dumps([r.model_dump(mode="json", exclude={"experiment"}) for r in runs], indent=2)
        )
        return 0
    if not runs:
        print(f"no runs in {store.path}")
    for r in runs:
        summary = store.run_summary(r.run_id)
        status, note = r.status, f"  ({r.reason})" if r.reason else ""
        if status == "running":  # by a live process, or left so by one that is gone
            lease = store.run_lease(r.run_id)
            if lease is None or not lease.alive():
                note = "  (no live writer: resume it with the same --run-id)"
        print(
            f"{r.run_id}  {status:<11} {when(r.created_at)}  episodes={summary.get('episodes', 0)}"
            f"  success={summary.get('success_rate', 0.0):.0%}{note}"
        )
    return 0


def _cmd_show(store: Any, args: argparse.Namespace) -> int:
    run = store.resolve_run(args.run)
    if args.episode:
        from palaestra.cli._render import timeline

        episode_id = _resolve_episode(store, run.run_id, args.episode)
        events = store.events(run.run_id, episode_id)
        if args.at is not None or args.violation:
            print(f"run {run.run_id}  episode {episode_id}")
            print(show_event(events, args))
            return 0
        if args.json:
            print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
        else:
            print(f"run {run.run_id}  episode {episode_id}  ({len(events)} events)")
            print(timeline(events))
        return 0
    from palaestra.eval import pass_hat_k_by_job

    rows = store.episodes(run.run_id)
    summary = store.run_summary(run.run_id)
    if args.json:
        print(
            json.dumps(
                {
                    "run": run.model_dump(mode="json"),
                    "summary": summary,
                    "pass_hat_k": pass_hat_k_by_job(rows),
                    "episodes": [
                        {
                            "episode_id": r.episode_id,
                            "task": r.task,
                            "seed": r.seed,
                            "epoch": r.epoch,
                            "status": r.status,
                            "outcome": r.outcome,
                            "reason": r.reason,
                            "score": r.score,
                            "steps": r.steps,
                            "events": r.n_events,
                            "hash": r.hash,
                        }
                        for r in rows
                    ],
                },
                indent=2,
                default=str,
            )
        )
        return 0
    print(f"run {run.run_id}  ({run.name}, seed {run.seed}, {run.status}, {when(run.created_at)})")
    print(
        f"episodes {summary.get('episodes', len(rows))}  success "
        f"{summary.get('success_rate', 0.0):.0%}  mean score {summary.get('mean_score') or 0:.3f}"
    )
    print(
        f"{'episode':<44} {'task':<16} {'seed':>4} {'ep':>3} {'outcome':<8} {'score':>6} "
        f"{'steps':>5}  hash"
    )
    _print_reliability(rows)
    for r in rows:
        score = "-" if r.score is None else f"{r.score:.3f}"
        print(
            f"{r.episode_id[:44]:<44} {r.task[:16]:<16} {r.seed:>4} {r.epoch:>3} "
            f"{(r.outcome or r.status)[:8]:<8} {score:>6} {r.steps or 0:>5}  {(r.hash or '-')[:12]}"
        )
    governance = governance_section(store, run.run_id)
    if governance:
        print(governance)
    from palaestra.eval import scorer_rows, scorer_table

    print(scorer_table(scorer_rows(store, run.run_id, include_env=False)), end="")
    print(show_assurance(store, run.run_id), end="")
    return 0


def _cmd_replay(store: Any, args: argparse.Namespace) -> int:
    import asyncio

    from palaestra.studies import replay_episode

    run = store.resolve_run(args.run)
    if args.episode:
        episodes = [_resolve_episode(store, run.run_id, args.episode)]
    else:
        episodes = [e.episode_id for e in store.episodes(run.run_id, status="finished")]
    differing = 0
    for episode_id in episodes:
        report = asyncio.run(replay_episode(store, run.run_id, episode_id))
        print(report.describe())
        differing += not report.equal
    print(
        f"replayed {len(episodes)} episodes: {len(episodes) - differing} identical, "
        f"{differing} differ"
    )
    return 1 if differing else 0
