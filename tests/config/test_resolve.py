"""The one job-over-experiment rule (`job_setting`): a block of the job replaces the
experiment's, a list of named entries is merged by name."""

from __future__ import annotations

import pytest

from palaestra.config import Experiment, job_setting
from palaestra.core import UserError


def _experiment(job: dict, **top) -> Experiment:
    return Experiment.model_validate(
        {"name": "x", "jobs": [{"env": "graph.coloring", **job}], **top}
    )


def test_a_job_block_replaces_the_experiments_whole():
    top = {"faults": {"seed": 1, "rules": [{"at": "model", "fault": "error"}]}}
    inherited = _experiment({}, **top)
    assert job_setting(inherited, inherited.jobs[0], "faults") == inherited.faults
    own = _experiment({"faults": {"seed": 2, "rules": []}}, **top)
    assert job_setting(own, own.jobs[0], "faults").seed == 2
    governed = _experiment({"governance": {"enabled": False}}, governance={"enabled": True})
    assert job_setting(governed, governed.jobs[0], "governance").enabled is False


def test_named_entries_merge_by_name():
    top = {
        "contracts": [
            {"use": "no_secrets"},
            {"use": "terminates_within", "name": "short", "max_steps": 9},
        ]
    }
    job = {"contracts": [{"use": "terminates_within", "name": "short", "max_steps": 3}]}
    experiment = _experiment(job, **top)
    merged = job_setting(experiment, experiment.jobs[0], "contracts")
    assert [(c.name or c.use) for c in merged] == ["no_secrets", "short"]
    assert merged[1].params == {"max_steps": 3}
    alone = _experiment({}, **top)
    assert job_setting(alone, alone.jobs[0], "contracts") == alone.contracts
    scorers = _experiment(
        {"scorers": [{"use": "includes", "name": "b"}]},
        scorers=[{"use": "includes", "name": "a"}, {"use": "includes", "name": "b"}],
    )
    names = [s.label for s in job_setting(scorers, scorers.jobs[0], "scorers")]
    assert names == ["a", "b"]


def test_an_unknown_setting_is_an_error_naming_the_valid_ones():
    experiment = _experiment({})
    with pytest.raises(UserError, match="faults, governance, contracts, scorers"):
        job_setting(experiment, experiment.jobs[0], "limits")
