"""`palaestra report` (HTML file + text summary) and `palaestra paired` (two groups of one
run, or two runs) on real stored runs of examples/eval/."""

from __future__ import annotations

import re
from pathlib import Path

from palaestra.cli._main import main
from palaestra.eval import episode_records, metrics, paired_compare, split_by
from palaestra.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "eval"


def test_report_command_writes_a_self_contained_file(tmp_path, capsys):
    store = str(tmp_path / "runs.db")
    assert (
        main(["run", str(EXAMPLES / "passk.yaml"), "--store", store, "--run-id", "p", "--quiet"])
        == 0
    )
    capsys.readouterr()
    out_file = tmp_path / "out" / "report.html"
    argv = ["report", "p", "--store", store, "-o", str(out_file), "--group-by", "seed",
            "--title", "pass@k"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"report written to {out_file}" in out
    html = out_file.read_text(encoding="utf-8")
    assert "<h1>pass@k</h1>" in html and "<h3>By seed</h3>" in html and "<svg" in html
    assert not re.search(r"https?://", html)
    with Store(store) as db:
        expected = {m.group: m for m in metrics(episode_records(db, "p"), group_by="job")}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in expected:
            assert parts[2] == f"{expected[parts[0]].success.value:.3f}"
    assert all(f"\n{job} " in out for job in expected)


def test_report_and_paired_user_errors(tmp_path, capsys):
    store = str(tmp_path / "runs.db")
    assert (
        main(["run", str(EXAMPLES / "paired.yaml"), "--store", store, "--run-id", "q", "--quiet"])
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                "q",
                "--store",
                store,
                "-o",
                str(tmp_path / "r.html"),
                "--group-by",
                "colour",
            ]
        )
        == 2
    )
    assert "unknown group field 'colour'" in capsys.readouterr().err
    assert main(["report", "nope", "--store", store]) == 2
    assert main(["paired", "q", "--store", store, "--by", "task"]) == 2
    assert "name two with --a and --b" in capsys.readouterr().err
    assert main(["paired", "q", "--store", store, "--a", "with", "--b", "maybe"]) == 2
    assert "present: with, without" in capsys.readouterr().err


def test_paired_command_on_groups_of_one_run_and_on_two_runs(tmp_path, capsys):
    store = str(tmp_path / "runs.db")
    for run_id in ("q1", "q2"):
        argv = [
            "run",
            str(EXAMPLES / "paired.yaml"),
            "--store",
            store,
            "--run-id",
            run_id,
            "--quiet",
        ]
        assert main(argv) == 0
    capsys.readouterr()
    assert main(["paired", "q1", "--store", store, "--metric", "score"]) == 0
    out = capsys.readouterr().out
    with Store(store) as db:
        a, b = split_by(episode_records(db, "q1"), "system", "with", "without")
    expected = paired_compare(a, b, metric="score", labels=("with", "without"))
    assert out == expected.describe()
    assert "paired_t" in out and "wilcoxon" in out and "sign" in out
    # two runs, one group each: the same trials pair up across runs
    argv = ["paired", "q1", "q2", "--store", store, "--a", "with", "--b", "without"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "with vs without on 16 task trials" in out and "mcnemar" in out
    # the same configuration in two runs of one seed: no difference at all
    argv = ["paired", "q1", "q2", "--store", store, "--a", "without", "--b", "without"]
    assert main(argv) == 0
    assert "difference +0.000" in capsys.readouterr().out
