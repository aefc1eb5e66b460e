"""`palaestra plugins`: every registry's entries with where each comes from (built-in,
registered by an `--import`ed module, reference, entry point), as text and as JSON; an
entry point that fails to import is a row, not a failure."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from palaestra.cli._main import main
from palaestra.core import Registry, UserError

MODULE = '''
from palaestra.eval import register_scorer
from palaestra.store import register_exporter


def said_something(log, target):
    """Success iff the agent answered anything."""
    return bool(log.texts())


def nothing(store, run_id, output):
    """Writes nothing."""
    return 0


register_scorer("said", said_something)
register_exporter("nothing", "plugmod:nothing")
'''


@pytest.fixture
def plugmod(tmp_path, monkeypatch):
    from palaestra.eval import _spec
    from palaestra.store import _exporters

    monkeypatch.setattr(_spec, "SCORERS", _spec.new_registry())
    monkeypatch.setattr(_exporters, "EXPORTERS", _exporters.new_registry())
    monkeypatch.setattr("palaestra.eval.SCORERS", _spec.SCORERS)
    monkeypatch.setattr("palaestra.store.EXPORTERS", _exporters.EXPORTERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "plugmod.py").write_text(textwrap.dedent(MODULE))
    yield tmp_path
    sys.modules.pop("plugmod", None)


def test_lists_every_kind_with_its_source(plugmod, capsys) -> None:
    assert main(["plugins", "scorers", "exporters", "--import", "plugmod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scorer kinds (scorers):\n")
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["said"].split()[1:] == [
        "registered:",
        "plugmod:said_something",
        "Success",
        "iff",
        "the",
        "agent",
        "answered",
        "anything.",
    ]
    assert lines["nothing"].split()[1:3] == ["registered:", "plugmod:nothing"]
    assert lines["includes"].split()[1] == "built-in"
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == [
        "envs",
        "models",
        "scorers",
        "contracts",
        "exporters",
        "topologies",
        "operators",
    ]
    names = {kind: {row["name"] for row in rows} for kind, rows in data.items()}
    assert {"arith.drill", "tooluse.store"} <= names["envs"]
    assert {"openai", "scripted"} <= names["models"]
    assert {"single", "pipeline"} <= names["topologies"]
    assert {"llm", "baseline"} <= names["operators"]
    assert "said" in names["scorers"]  # imported above: registered for this process
    assert all(row["source"] for rows in data.values() for row in rows)
    assert main(["plugins", "nonsense"]) == 2
    assert "unknown kind 'nonsense'; kinds: envs, models, scorers" in capsys.readouterr().err


def test_a_registry_survey_keeps_a_broken_entry_point_as_a_row(tmp_path, monkeypatch) -> None:
    info = tmp_path / "half_broken-2.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: half-broken\nVersion: 2.1\n")
    (info / "entry_points.txt").write_text(
        "[test.things]\ngood = json:dumps\nbad = no_such_module_xyz:thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    things: Registry[object] = Registry("thing", "test.things", adapt=lambda name, obj: obj)
    rows = {row.name: row for row in things.survey()}
    assert rows["good"].entry is __import__("json").dumps and rows["good"].error is None
    assert rows["good"].source == "entry point of 'half-broken 2.1' (json:dumps)"
    assert rows["bad"].entry is None
    assert "thing plugin 'bad' (no_such_module_xyz:thing) from distribution 'half-broken 2.1'" in (
        rows["bad"].error or ""
    )
    with pytest.raises(UserError, match="'half-broken 2.1' failed to import: ModuleNotFound"):
        things.get("bad")
