"""Export formats from outside packages: `palaestra export RUN --format NAME` for a
function registered with `register_exporter` (`--import`), by an entry point in group
`palaestra.exporters`, or by reference; unknown formats list close matches."""

from __future__ import annotations

import csv
import sys
import textwrap

import pytest

import palaestra
from palaestra.cli._main import main
from palaestra.core import UserError
from palaestra.store import _exporters, register_exporter

EXPORTER_MODULE = '''
import csv
from palaestra.store import register_exporter

def episodes_csv(store, run_id, output):
    """One row per episode: id, task, success, steps."""
    rows = store.episodes(run_id)
    out = output.open("w", newline="") if hasattr(output, "open") else output
    writer = csv.writer(out, lineterminator="\\n")
    writer.writerow(["episode", "task", "success", "steps"])
    for row in rows:
        writer.writerow([row.episode_id, row.task, row.success, row.steps])
    if out is not output:
        out.close()
    return len(rows)

register_exporter("episodes-csv", episodes_csv)
'''


@pytest.fixture
def exporters(tmp_path, monkeypatch):
    monkeypatch.setattr(_exporters, "EXPORTERS", _exporters.new_registry())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myexport.py").write_text(textwrap.dedent(EXPORTER_MODULE))
    palaestra.run({"jobs": [{"env": "arith.drill", "seeds": 2}]}, store=tmp_path / "s.db")
    yield tmp_path
    sys.modules.pop("myexport", None)


def test_a_registered_format_exports_a_run(exporters, capsys) -> None:
    base = ["export", "last", "--store", "s.db", "--format", "episodes-csv"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "unknown export format 'episodes-csv'" in err and "jsonl, otel, parquet" in err
    assert main([*base, "--import", "myexport", "-o", "eps.csv"]) == 0
    assert "exported 2 episodes-csv records of run" in capsys.readouterr().err
    rows = list(csv.reader((exporters / "eps.csv").open()))
    assert rows[0] == ["episode", "task", "success", "steps"]
    assert len(rows) == 3 and {r[2] for r in rows[1:]} == {"True"}
    assert main([*base, "--import", "myexport"]) == 0  # to stdout
    assert capsys.readouterr().out.splitlines()[0] == "episode,task,success,steps"
    assert main([*base, "--import", "myexport", "--agent", "a"]) == 2
    assert "--agent applies to --format adp and sft only" in capsys.readouterr().err


def test_references_entry_points_and_re_registration(exporters, capsys) -> None:
    assert main(["export", "last", "--store", "s.db", "--format", "myexport:episodes_csv"]) == 0
    assert capsys.readouterr().out.startswith("episode,task,success,steps")
    import myexport

    register_exporter("episodes-csv", "myexport:episodes_csv")  # the same one: accepted
    with pytest.raises(UserError, match="one of palaestra's own"):
        register_exporter("jsonl", myexport.episodes_csv)
    info = exporters / "csv_export-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: csv-export\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[palaestra.exporters]\ncsv = myexport:episodes_csv\n")
    assert main(["export", "last", "--store", "s.db", "--format", "csv", "-o", "x.csv"]) == 0
    assert (exporters / "x.csv").read_text().startswith("episode,task")
    assert main(["export", "last", "--store", "s.db", "--format", "cvs"]) == 2
    assert "did you mean 'csv'" in capsys.readouterr().err


def test_palaestra_formats_are_entries_of_the_same_registry() -> None:
    """jsonl ... otel are `ExportFormat` entries like a plugin's, listed together, and
    listing them imports none of their writers (pyarrow, the OpenTelemetry SDK)."""
    import subprocess

    code = (
        "import sys\n"
        "from palaestra.store import EXPORTERS, ExportFormat\n"
        "formats = EXPORTERS.all()\n"
        "assert all(isinstance(f, ExportFormat) for f in formats.values())\n"
        "print(sorted(formats), formats['sft'].options)\n"
        "print([m for m in ('pyarrow', 'opentelemetry') "
        "if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].startswith("['adp', 'jsonl', 'otel', 'parquet', 'sft']")
    assert "'agent', 'all', 'no_metadata'" in out[0]
    assert out[1] == "[]"


def test_a_plugin_format_declares_the_options_it_takes(exporters, capsys) -> None:
    """An `ExportFormat` with `options=("agent",)` gets `--agent` from the command line;
    a format without it refuses the flag, naming every format that takes it."""
    from palaestra.store import ExportFormat

    def agents_txt(store, run_id, output, *, agent=None):
        rows = store.episodes(run_id)
        output.write_text("".join(f"{row.episode_id} {','.join(agent or [])}\n" for row in rows))
        return f"{len(rows)} lines"

    register_exporter("agents-txt", ExportFormat("agents-txt", agents_txt, options=("agent",)))
    base = ["export", "last", "--store", "s.db", "--format", "agents-txt", "-o", "a.txt"]
    assert main([*base, "--agent", "solver"]) == 0
    assert "exported 2 lines of run" in capsys.readouterr().err
    lines = (exporters / "a.txt").read_text().splitlines()
    assert len(lines) == 2 and all(line.endswith(" solver") for line in lines)
    assert main(["export", "last", "--store", "s.db", "--format", "jsonl", "--agent", "x"]) == 2
    assert "--agent applies to --format adp and agents-txt and sft only" in capsys.readouterr().err
