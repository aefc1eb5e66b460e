"""`palaestra compare`: every named system on the same tasks and seeds under one token
budget, one table; and the statistics behind it (`palaestra.eval._compare`)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaestra.cli._main import main
from palaestra.core import UserError
from palaestra.eval import EpisodeCost, compare_systems, comparison_table, wilson_interval
from palaestra.eval._compare import split_system
from palaestra.runtime import Experiment, SystemRefConfig
from palaestra.store import Store
from palaestra.studies import comparison_experiment, reference_system

ANSWER = "{{calls: [{{name: answer, arguments: {{subproblem: Q1, value: {}}}}}]}}"
EXPERIMENT = f"""\
name: cmp
concurrency: {{episodes: 1}}
models:
  right: {{spec: scripted, replies: [{ANSWER.format(125)}]}}
  wrong: {{spec: scripted, replies: [{ANSWER.format(126)}]}}
systems:
  solo: {{topology: single, members: {{me: {{kind: llm, model: right}}}}}}
  wrong_solo: {{topology: single, members: {{me: {{kind: llm, model: wrong}}}}}}
  vote:
    topology: independent
    members:
      a: {{kind: llm, model: right}}
      b: {{kind: llm, model: right}}
      c: {{kind: llm, model: wrong}}
  debate:
    topology: decentralized
    members:
      a: {{kind: llm, model: right}}
      b: {{kind: llm, model: right}}
      c: {{kind: llm, model: wrong}}
jobs:
  - env: mas.controlled
    label: q
    params: {{depth: 1, horizon: 1, breadth: 1, parallel: 1, instances: 1}}
    seeds: 2
"""


# -- statistics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # hand-checked: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), z = 1.96
        (5, 10, 0.236593, 0.763407),
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        (1, 2, 0.094531, 0.905469),
        (81, 263, 0.255289, 0.366210),  # the roots of (p̂ - p)² = z² p(1 - p) / n
    ],
)
def test_wilson_interval_hand_checked(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=1e-6)


def test_wilson_interval_edges_and_errors():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(3, 2)
    # wider at 99%
    low95, high95 = wilson_interval(3, 10)
    low99, high99 = wilson_interval(3, 10, z=2.5758)
    assert low99 < low95 and high99 > high95


@given(st.integers(min_value=1, max_value=10_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))))  # fmt: skip
def test_wilson_interval_laws(case):
    successes, n = case
    low, high = wilson_interval(successes, n)
    p = successes / n
    assert 0.0 <= low <= p <= high <= 1.0
    # symmetric: the interval of failures is the mirror image
    mirror_low, mirror_high = wilson_interval(n - successes, n)
    assert math.isclose(low, 1 - mirror_high, abs_tol=1e-12)
    assert math.isclose(high, 1 - mirror_low, abs_tol=1e-12)


def test_split_system():
    assert split_system("q@vote/t1/0/0") == ("vote", "q/t1/0/0")
    assert split_system("a@b@vote/t1/3/1") == ("vote", "a@b/t1/3/1")
    assert split_system("plain/t1/0/0") == (None, "plain/t1/0/0")


def cost(key: str, success: bool, tokens: int, calls: int) -> EpisodeCost:
    return EpisodeCost(key=key, success=success, tokens=tokens, calls=calls)


def test_compare_systems_pairs_tasks_with_the_reference():
    costs = {
        "single": [cost("t1", True, 100, 1), cost("t2", False, 300, 1)],
        # t3 was not run by single: left out of the overhead, kept in the rest
        "vote": [cost("t1", True, 300, 3), cost("t2", True, 900, 3), cost("t3", True, 10, 3)],
        "broken": [cost("t9", False, 0, 0)],
    }
    single, vote, broken = compare_systems(costs, reference="single")
    assert (single.episodes, single.successes, single.overhead, single.call_overhead) == (
        2, 1, 1.0, 1.0,
    )  # fmt: skip
    assert single.efficiency == pytest.approx(1000 * 1 / 400)
    assert (vote.episodes, vote.successes, vote.success_rate) == (3, 3, 1.0)
    assert vote.overhead == pytest.approx((300 + 900) / (100 + 300))
    assert vote.call_overhead == pytest.approx(6 / 2)
    assert vote.mean_tokens == pytest.approx(1210 / 3) and vote.mean_calls == 3
    assert vote.efficiency == pytest.approx(1000 * 3 / 1210)
    assert (vote.ci_low, vote.ci_high) == wilson_interval(3, 3)
    assert broken.overhead is None and broken.efficiency is None  # no common task, 0 tokens
    without = compare_systems(costs)
    assert all(s.overhead is None for s in without)
    with pytest.raises(ValueError, match="reference system 'solo' is not compared"):
        compare_systems(costs, reference="solo")
    table = comparison_table(without)
    assert table.splitlines()[2].split()[-2:] == ["-", "2.479"]


# -- building the comparison ---------------------------------------------------------------


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    return path


def test_comparison_experiment_runs_each_job_once_per_system(experiment):
    exp = Experiment.from_yaml(experiment)
    comparison = comparison_experiment(exp, ["vote", "solo"], 500)
    assert [job.label for job in comparison.jobs] == ["q@vote", "q@solo"]
    assert [job.operator for job in comparison.jobs] == [
        SystemRefConfig(use="vote"),
        SystemRefConfig(use="solo"),
    ]
    assert comparison.limits.max_tokens == 500
    assert all(job.seed_list() == [0, 1] for job in comparison.jobs)
    assert comparison.systems == exp.systems
    assert reference_system(exp, ["vote", "solo", "wrong_solo"]) == "solo"
    assert reference_system(exp, ["vote", "debate"]) is None
    with pytest.raises(UserError, match=r"'star' is not defined .* defined: solo, wrong_solo"):
        comparison_experiment(exp, ["vote", "star"], 500)
    with pytest.raises(UserError, match="named twice"):
        comparison_experiment(exp, ["vote", "vote"], 500)
    with pytest.raises(UserError, match="--budget-tokens must be >= 1"):
        comparison_experiment(exp, ["vote"], 0)


def rows_of(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("system "))
    rows = {}
    for line in lines[start + 1 :]:
        if line.startswith("run "):
            break
        cells = re.sub(r"\[(\S+), (\S+)\]", r"[\1,\2]", line).split()
        rows[cells[0]] = cells[1:]
    return rows


def test_compare_command_prints_one_table_under_one_budget(experiment, tmp_path, capsys):
    store = tmp_path / "cmp.db"
    systems = "vote,solo,debate,wrong_solo"
    argv = ["compare", str(experiment), "--systems", systems, "--budget-tokens", "700",
            "--store", str(store), "--run-id", "c1", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "token budget per episode: 700; overhead against solo" in out
    rows = rows_of(out)
    assert list(rows) == ["vote", "solo", "debate", "wrong_solo"]
    # columns: episodes, success, CI, tokens/ep, calls/ep, overhead, successes per 1k tokens
    with Store(store) as db:
        episodes = db.episodes("c1")
        tokens: dict[str, int] = {}
        calls: dict[str, int] = {}
        for row in episodes:
            events = db.events("c1", row.episode_id)
            system = row.episode_id.split("/")[0].split("@")[1]
            used = [e.payload.usage for e in events if e.kind == "model_response"]
            tokens[system] = tokens.get(system, 0) + sum(
                u.input_tokens + u.output_tokens for u in used
            )
            calls[system] = calls.get(system, 0) + sum(e.kind == "model_request" for e in events)
        reasons = {row.episode_id.split("/")[0]: row.reason for row in episodes}
    assert {r[0] for r in rows.values()} == {"2"}
    assert rows["solo"][1:3] == ["1.000", "[0.34,1.00]"]
    assert rows["vote"][1] == "1.000"  # the majority overrules the wrong voter
    assert rows["wrong_solo"][1:3] == ["0.000", "[0.00,0.66]"]
    # the debate spends more than the budget allows: its episodes end for budget
    assert reasons["q@debate"] == "budget" and rows["debate"][1] == "0.000"
    for system, cells in rows.items():
        assert float(cells[3]) == pytest.approx(tokens[system] / 2, abs=0.05)
        assert float(cells[4]) == pytest.approx(calls[system] / 2)
        overhead = tokens[system] / tokens["solo"]
        assert cells[5] == f"{overhead:.2f}x"
        wins = 2 if system in ("vote", "solo") else 0
        assert cells[6] == f"{1000 * wins / tokens[system]:.3f}"
    assert rows["solo"][5] == "1.00x" and rows["vote"][4] == "3.00"
    # the same run id resumes: nothing is run again, the table is the same
    assert main(argv) == 0
    assert rows_of(capsys.readouterr().out) == rows


def test_the_compare_example_runs(tmp_path, capsys):
    example = Path(__file__).resolve().parents[2] / "examples" / "systems" / "compare.yaml"
    argv = ["compare", str(example), "--systems", "solo,vote,debate", "--budget-tokens",
            "4000", "--store", str(tmp_path / "cmp.db"), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    rows = rows_of(capsys.readouterr().out)
    assert list(rows) == ["solo", "vote", "debate"]
    # the lone wrong agent fails; the vote and the debate overrule it, at a token cost
    assert [rows[s][1] for s in rows] == ["0.000", "1.000", "1.000"]
    assert rows["solo"][5] == "1.00x" and float(rows["debate"][5][:-1]) > 3


def test_compare_command_errors_and_help(experiment, tmp_path):
    def palaestra(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "palaestra", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = palaestra("compare", str(experiment), "--systems", "solo,nope",
                     "--store", str(tmp_path / "x.db"))  # fmt: skip
    assert done.returncode == 2
    assert "error: --systems: 'nope' is not defined under `systems:`" in done.stderr
    assert "defined: solo, wrong_solo, vote, debate" in done.stderr
    assert "--budget-tokens" in palaestra("compare", "--help").stdout
