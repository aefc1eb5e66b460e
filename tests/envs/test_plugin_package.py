"""The outside package of docs/extending.md, installed with pip (`--target`, offline,
no build isolation) and used as a user would: `palaestra envs` lists its environment;
`palaestra run` runs the page's experiment (the environment by entry point name and by
`module:Name`, the package's scorer) and its topology (by entry point, from YAML, errors
located in the file); a script registers it for `--import`; and `palaestra.run` takes
the same ids."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "extending.md"

# pip-installs the example package once, then runs the CLI in subprocesses
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """The plugin installed into a fresh directory; the environment a command needs
    to see it (as if pip had installed it into the virtualenv)."""
    base = tmp_path_factory.mktemp("plugin")
    source = base / "source"
    shutil.copytree(
        ROOT / "examples" / "plugin", source, ignore=shutil.ignore_patterns("__pycache__")
    )
    site = base / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--target", str(site), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert (site / "palaestra_example_plugin").is_dir()
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PALAESTRA_STORE": str(base / "runs.db")}


def _palaestra(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "palaestra.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _doc_block(language: str, first_line: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)
    return next(b for b in blocks if b.startswith(first_line))


def _row(out: str, job: str) -> list[str]:
    """The cells of `job`'s row in a run's summary table."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells and cells[0] == job:
            return cells
    raise AssertionError(f"no row for {job!r} in:\n{out}")


def test_envs_lists_the_installed_plugin(installed, tmp_path) -> None:
    done = _palaestra(installed, tmp_path, "envs")
    assert done.returncode == 0, done.stderr
    assert (
        "example.ledger  (baseline)  Add up a ledger read one entry at a time "
        "(tool use, verified total)." in done.stdout
    )
    assert "    entries: int (default 5) entries in each ledger" in done.stdout
    assert "graph.coloring" in done.stdout  # the built-ins are still there


def test_run_the_documented_experiment(installed, tmp_path) -> None:
    (tmp_path / "ledger.yaml").write_text(_doc_block("yaml", "# ledger.yaml"))
    done = _palaestra(installed, tmp_path, "run", "ledger.yaml", "--quiet")
    assert done.returncode == 0, done.stderr
    by_name = _row(done.stdout, "example.ledger")
    assert by_name[1:3] == ["2", "100%"]  # two episodes, the baseline solves both
    llm = _row(done.stdout, "ledger-llm")
    assert llm[1:3] == ["1", "0%"]  # the scripted clerk answers 0 after one read
    shown = _palaestra(installed, tmp_path, "show", "last")
    assert shown.returncode == 0, shown.stderr
    scorer = next(line for line in shown.stdout.splitlines() if "read_every_entry" in line)
    assert scorer.split()[:3] == ["example.ledger", "example.read_every_entry", "2"]
    assert "100%" in scorer
    replayed = _palaestra(installed, tmp_path, "replay", "last")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_a_script_registers_it_for_import(installed, tmp_path) -> None:
    (tmp_path / "my_envs.py").write_text(
        textwrap.dedent(
            """
            from palaestra import register

            register(id="mine.ledger", entry_point="palaestra_example_plugin.ledger:LedgerEnv")
            """
        )
    )
    (tmp_path / "mine.yaml").write_text(
        "jobs:\n"
        "  - env: mine.ledger\n    tasks: 1\n    operator: {kind: llm, model: clerk}\n"
        "  - env: palaestra_example_plugin.ledger:LEDGER\n    label: by-reference\n"
        "    tasks: 3\n"
        "models:\n  clerk: {spec: scripted, replies: ['0']}\n"
    )
    without = _palaestra(installed, tmp_path, "run", "mine.yaml", "--quiet")
    assert without.returncode == 2
    assert "unknown environment 'mine.ledger'" in without.stderr
    assert "--import MODULE" in without.stderr
    done = _palaestra(installed, tmp_path, "run", "mine.yaml", "--import", "my_envs", "--quiet")
    assert done.returncode == 0, done.stderr
    assert _row(done.stdout, "mine.ledger")[1] == "1"
    assert _row(done.stdout, "by-reference")[1:3] == ["3", "100%"]


def test_palaestra_run_takes_the_same_ids(installed, tmp_path) -> None:
    code = textwrap.dedent(
        """
        import palaestra
        from palaestra import Experiment, Job

        jobs = [Job(env="example.ledger", tasks=2),
                Job(env="palaestra_example_plugin.ledger:LEDGER", label="ref", tasks=1)]
        result = palaestra.run(Experiment(jobs=jobs), store="p.db")
        print(sorted((e.episode_id.split("/")[0], e.success) for e in result.episodes))
        print(palaestra.envs.check_env_sync("example.ledger").score.success)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=installed,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "[('example.ledger', True), ('example.ledger', True), ('ref', True)]",
        "True",
    ]


def test_the_package_topology_from_yaml(installed, tmp_path) -> None:
    text = _doc_block("yaml", "# shifts.yaml")
    (tmp_path / "shifts.yaml").write_text(text)
    done = _palaestra(installed, tmp_path, "run", "shifts.yaml", "--quiet")
    assert done.returncode == 0, done.stderr
    assert _row(done.stdout, "two-baselines")[1:3] == ["2", "100%"]
    # the baseline reads one entry, then the clerk's turn: it answers "0", wrongly
    assert _row(done.stdout, "hand-over")[1:3] + _row(done.stdout, "hand-over")[5:6] == [
        "1",
        "0%",
        "2.0",
    ]
    replayed = _palaestra(installed, tmp_path, "replay", "last")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # the topology's own model validates its fields, and the error names the line
    (tmp_path / "bad.yaml").write_text(text.replace("order: [early, late]", "order: [early, x]"))
    bad = _palaestra(installed, tmp_path, "run", "bad.yaml")
    assert bad.returncode == 2
    line = text.splitlines().index("      order: [early, late]") + 1
    assert f"bad.yaml:{line}: jobs.1.operator.order.1: 'x' is not a member; defined " in bad.stderr
    (tmp_path / "typo.yaml").write_text(text.replace("example.shifts", "example.shift", 1))
    typo = _palaestra(installed, tmp_path, "run", "typo.yaml")
    assert typo.returncode == 2
    assert "jobs.0.operator.topology: unknown topology 'example.shift'; did you mean " in (
        typo.stderr
    )
    assert "'example.shifts'" in typo.stderr


def test_the_package_model_provider_and_export_format(installed, tmp_path) -> None:
    """`example:tally` by entry point and by reference (`module:Name:MODEL`, with an
    option) solves the ledgers with the LLM operator; the package's export format writes
    the run; `palaestra plugins` says where each entry comes from."""
    (tmp_path / "tally.yaml").write_text(_doc_block("yaml", "# tally.yaml"))
    done = _palaestra(installed, tmp_path, "run", "tally.yaml", "--quiet")
    assert done.returncode == 0, done.stderr
    assert _row(done.stdout, "tally")[1:3] == ["2", "100%"]
    assert _row(done.stdout, "tally-by-reference")[1:3] == ["2", "100%"]
    exported = _palaestra(
        installed, tmp_path, "export", "last", "--format", "example.ledger-csv", "-o", "l.csv"
    )
    assert exported.returncode == 0, exported.stderr
    assert "exported 4 example.ledger-csv records of run" in exported.stderr
    lines = (tmp_path / "l.csv").read_text().splitlines()
    assert lines[0] == "episode,task,success,score" and len(lines) == 5
    assert all(line.split(",")[2:] == ["True", "1.0"] for line in lines[1:])
    listed = _palaestra(installed, tmp_path, "plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {
        (kind, row["name"]): row["source"]
        for kind, found in json.loads(listed.stdout).items()
        for row in found
    }
    dist = "entry point of 'palaestra-example-plugin 0.1.0'"
    assert rows[("envs", "example.ledger")].startswith(dist)
    assert rows[("models", "example")].startswith(dist)
    assert rows[("scorers", "example.read_every_entry")].startswith(dist)
    assert rows[("exporters", "example.ledger-csv")].startswith(dist)
    assert rows[("topologies", "example.shifts")].startswith(dist)
    assert rows[("scorers", "includes")] == rows[("exporters", "parquet")] == "built-in"
    assert {kind for kind, _ in rows} == {
        "envs",
        "models",
        "scorers",
        "contracts",
        "exporters",
        "topologies",
        "operators",
        "extensions",
    }


BROKEN_MODULE = 'raise RuntimeError("boom: the plugin module fails")\n'


def test_a_broken_plugin_is_a_row_not_a_failure(installed, tmp_path) -> None:
    """An installed entry point whose import raises: `palaestra envs` and `palaestra
    plugins` list it as broken (exit 0, the other environments still there); using it
    by name is a clear error naming the entry point, the distribution and the
    exception."""
    site = tmp_path / "broken_site"
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[palaestra.envs]\nbroken.env = brokenmod:ENV\n")
    (site / "brokenmod.py").write_text(BROKEN_MODULE)
    env = {**installed, "PYTHONPATH": installed["PYTHONPATH"] + os.pathsep + str(site)}
    listed = _palaestra(env, tmp_path, "envs")
    assert listed.returncode == 0, listed.stderr
    assert "broken.env  (BROKEN)  entry point of 'broken-plugin 1.0' (brokenmod:ENV)" in (
        listed.stdout
    )
    assert "RuntimeError: boom: the plugin module fails; fix or reinstall" in listed.stdout
    assert "example.ledger  (baseline)" in listed.stdout and "graph.coloring" in listed.stdout
    as_json = _palaestra(env, tmp_path, "plugins", "envs", "--json")
    assert as_json.returncode == 0, as_json.stderr
    broken = next(r for r in json.loads(as_json.stdout)["envs"] if r["name"] == "broken.env")
    assert "RuntimeError: boom" in broken["error"]
    (tmp_path / "b.yaml").write_text("jobs:\n  - env: broken.env\n")
    used = _palaestra(env, tmp_path, "run", "b.yaml", "--quiet")
    assert used.returncode == 2
    for part in ("'broken.env'", "brokenmod:ENV", "'broken-plugin 1.0'", "RuntimeError: boom"):
        assert part in used.stderr, used.stderr
