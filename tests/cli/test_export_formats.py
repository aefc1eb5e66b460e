"""`palaestra export --format adp|sft|parquet|otel` and `palaestra import --format adp`."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from palaestra.cli import main
from palaestra.store import Store
from tests.store.export_runs import Runs, shared_runs


@pytest.fixture(scope="module")
def runs() -> Runs:
    return shared_runs()


def test_adp_export_and_import_round_trip(runs, tmp_path, capsys):
    store = str(runs.store_path)
    out = tmp_path / "system.adp.jsonl"
    export = ["export", runs.system, "--format", "adp", "--adp-version", "1.3.0"]
    assert main([*export, "-o", str(out), "--store", store]) == 0
    assert "3 ADP trajectories" in capsys.readouterr().err
    target = str(tmp_path / "imported.db")
    assert main(["import", str(out), "--format", "adp", "--store", target]) == 0
    assert f"imported run {runs.system}" in capsys.readouterr().out
    assert main([*export, "--store", target]) == 0
    assert capsys.readouterr().out == out.read_text()
    assert main([*export, "--agent", "agent/q1_solver", "--store", store]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["details"]["agent"] for line in lines] == ["agent/q1_solver"]
    assert main([*export[:-1], "1.2.0", "--store", store]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["schema_version"] for line in lines] == ["1.2.0"] * 3
    assert "tool_call_id" not in "".join(lines)


def test_adp_defaults_to_the_newest_version_a_directory(runs, tmp_path, capsys):
    store = str(runs.store_path)
    export = ["export", runs.code, "--format", "adp", "--store", store]
    assert main(export) == 2
    assert "ADP 1.5.0 is a dataset directory" in capsys.readouterr().err
    out = tmp_path / "code-adp"
    assert main([*export, "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "trajectories.jsonl"]
    first = json.loads((out / "trajectories.jsonl").read_text().splitlines()[0])
    assert first["schema_version"] == "1.5.0" and "available_custom_tools" in first
    target = str(tmp_path / "imported.db")
    assert main(["import", str(out), "--format", "adp", "--store", target]) == 0
    capsys.readouterr()
    try:  # an argparse error: exit status 2, however main reports it
        status = main([*export, "--adp-version", "1.4.0"])
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    assert "1.4.0" in capsys.readouterr().err
    assert main(["export", runs.code, "--adp-version", "1.2.0", "--store", store]) == 2
    assert "--adp-version applies to --format adp only" in capsys.readouterr().err


def test_cli_adp_versions_are_the_stores():
    from palaestra.cli._export import ADP_VERSIONS as CLI_VERSIONS
    from palaestra.store import ADP_VERSIONS

    assert CLI_VERSIONS == ADP_VERSIONS


def test_sft_to_stdout(runs, capsys):
    args = ["export", runs.llm, "--format", "sft", "--store", str(runs.store_path)]
    assert main(args) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main([*args, "--all", "--no-metadata"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and "metadata" not in lines[0]


def test_parquet_needs_an_output(runs, tmp_path, capsys):
    store = str(runs.store_path)
    assert main(["export", runs.code, "--format", "parquet", "--store", store]) == 2
    assert "needs -o" in capsys.readouterr().err
    assert (
        main(["export", runs.code, "--format", "parquet", "-o", str(tmp_path), "--store", store])
        == 0
    )
    with Store(runs.store_path) as source:
        n = len(list(source.iter_events(runs.code)))
    assert pq.read_table(tmp_path / "events.parquet").num_rows == n


def test_otel_console(runs, capsys):
    args = ["export", runs.code, "--format", "otel", "--console", "--store", str(runs.store_path)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert '"name": "invoke_workflow code.python"' in captured.out
    assert "spans to stdout" in captured.err


def test_options_of_other_formats_are_refused(runs, capsys):
    store = str(runs.store_path)
    assert main(["export", runs.code, "--format", "jsonl", "--agent", "a", "--store", store]) == 2
    assert "--agent applies to" in capsys.readouterr().err
    assert main(["export", runs.code, "--format", "adp", "--console", "--store", store]) == 2
    assert "--format otel only" in capsys.readouterr().err
    assert main(["export", runs.code, "--format", "otel", "--all", "--store", store]) == 2
    assert "--format sft only" in capsys.readouterr().err


def test_jsonl_stays_the_default(runs, tmp_path, capsys):
    assert main(["export", runs.code, "--store", str(runs.store_path)]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["type"] == "run"
