"""Shapley runs: every coalition of an experiment's `shapley:` modules as its own jobs,
in one run, then the modules' Shapley values from the stored episodes.

A coalition S is the experiment with the modules in S patched to their test variant and
the others to their default (`_shapley_config`). Every job `J` of the experiment runs
once per coalition the method needs (all 2^n when exact; the prefixes of the sampled
permutations otherwise) as job `J@S=a+b` (`J@S=none` for the empty coalition), so the
episode id `J@S=a+b/task/seed/epoch` says which configuration it ran and every task and
seed is the same across coalitions. The run stores the whole experiment (its `shapley:`
block with the effective `samples` included), so `palaestra report` recomputes the
values from the store alone. v(S) is the success rate (or mean score) of S's episodes;
the values come from `palaestra.eval.shapley_from_records`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from palaestra.config import Experiment, ShapleyConfig, load_experiment, set_path
from palaestra.core import ConfigError, UserError
from palaestra.eval import (
    Attribution,
    Coalition,
    coalition_label,
    coalitions_needed,
    episode_records,
    shapley_from_records,
    shapley_seed,
)
from palaestra.runtime import RunResult, run
from palaestra.store import Store


@dataclass
class ShapleyRun:
    """What `run_shapley` returns: the run, v of each coalition, and the values."""

    result: RunResult
    shapley: Attribution
    banzhaf: Attribution | None = None

    def table(self) -> str:
        """Shapley values with the efficiency check (and the Banzhaf indices)."""
        text = self.shapley.table()
        if self.banzhaf is not None:
            text += "\n" + self.banzhaf.table()
        return text


def _config(experiment: Experiment, samples: int | None, banzhaf: bool | None) -> ShapleyConfig:
    if experiment.shapley is None:
        raise UserError(
            "the experiment has no `shapley:` block; add one with `modules:` (each with "
            "`default:` and `test:` patches, see docs/metrics.md)"
        )
    update: dict[str, Any] = {}
    if samples is not None:
        if samples < 1:
            raise UserError(f"--samples must be >= 1, got {samples}")
        update["samples"] = samples
    if banzhaf is not None:
        update["banzhaf"] = banzhaf
    return experiment.shapley.model_copy(update=update)


def coalition_experiment(
    experiment: Experiment, coalition: Coalition, config: ShapleyConfig | None = None
) -> dict[str, Any]:
    """The experiment (as data) with the modules in `coalition` on their test variant
    and the rest on their default. Raises `ConfigError` for a path that is not there."""
    config = config or experiment.shapley
    assert config is not None
    data = experiment.model_dump(mode="json", by_alias=True)
    for name, module in config.modules.items():
        variant = "test" if name in coalition else "default"
        for path, value in getattr(module, variant).items():
            try:
                set_path(data, path, copy.deepcopy(value))
            except KeyError as exc:
                raise ConfigError(f"shapley.modules.{name}.{variant}: {exc.args[0]}") from None
    return data


def shapley_experiment(
    experiment: Experiment | str | Path,
    *,
    samples: int | None = None,
    banzhaf: bool | None = None,
) -> tuple[Experiment, list[Coalition]]:
    """The experiment whose jobs are every job once per needed coalition (`J@S=...`),
    and those coalitions. `samples` / `banzhaf` override the `shapley:` block."""
    experiment = load_experiment(experiment)
    config = _config(experiment, samples, banzhaf)
    players = list(config.modules)
    seed = shapley_seed(experiment.seed)
    needed = coalitions_needed(players, samples=config.samples, seed=seed)
    if config.banzhaf and config.samples is not None:
        extra = coalitions_needed(players, samples=config.samples, seed=seed, banzhaf=True)
        needed += [c for c in extra if c not in needed]
    jobs: list[dict[str, Any]] = []
    for coalition in needed:
        data = coalition_experiment(experiment, coalition, config)
        system = coalition_label(coalition, players)
        for job in data["jobs"]:
            jobs.append({**job, "label": f"{job['label']}@{system}"})
    data = experiment.model_dump(mode="json", by_alias=True)
    data["jobs"] = jobs
    data["shapley"] = config.model_dump(mode="json")
    try:
        combined = Experiment.model_validate(data)
    except ValidationError as exc:
        # one line: the first problem, named by the variant's job label (the combined
        # experiment's job indices are not the file's)
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        text = str(error["msg"]).removeprefix("Value error, ")
        text = f"{field}: {text}" if field else text
        text = re.sub(r"\bjobs\.(\d+)", lambda m: f"job {jobs[int(m[1])]['label']!r}", text)
        raise ConfigError(
            experiment.where("shapley", "modules")
            + f"a variant of the experiment is invalid: {text}; check the `default` and "
            "`test` patches"
        ) from None
    return combined, needed


def run_shapley(
    experiment: Experiment | str | Path,
    *,
    samples: int | None = None,
    banzhaf: bool | None = None,
    run_id: str | None = None,
    store: str | Path | None = None,
    **run_options: Any,
) -> ShapleyRun:
    """Run every needed coalition of the experiment's `shapley:` modules (one run) and
    compute the Shapley values (and Banzhaf indices if asked) from the stored episodes.
    `run_options` go to `palaestra.runtime.run` (model, base_url, concurrency,
    progress)."""
    combined, _needed = shapley_experiment(experiment, samples=samples, banzhaf=banzhaf)
    config = combined.shapley
    assert config is not None
    result = run(combined, run_id=run_id, store=store, **run_options)
    with Store(result.store_path) as db:
        records = episode_records(db, result.run_id)
    players = list(config.modules)
    options: dict[str, Any] = {
        "value": config.value,
        "samples": config.samples,
        "seed": shapley_seed(combined.seed),
    }
    try:
        values = shapley_from_records(records, players, **options)
        extra = None
        if config.banzhaf:
            extra = shapley_from_records(records, players, banzhaf=True, **options)
    except ValueError as exc:
        raise UserError(f"run {result.run_id}: {exc} (did its episodes finish?)") from None
    return ShapleyRun(result=result, shapley=values, banzhaf=extra)
