"""Scorers from outside packages: `use: NAME` for one registered with `register_scorer`
or by an entry point in group `palaestra.scorers`, `use: package.module:function`, and
the error for a name nobody knows."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest

from palaestra.core import UserError
from palaestra.eval import (
    EpisodeLog,
    ScorerSpec,
    Target,
    _spec,
    build_scorer,
    parse_scorer_arg,
    register_scorer,
)

SCORER_MODULE = '''
def long_answer(log, target):
    """A number: how much of the target's length the answer reaches."""
    return min(1.0, len(log.texts()[-1] if log.texts() else "") / float(target.data))

async def always(log, target):
    return True
'''


@pytest.fixture
def scorers(tmp_path, monkeypatch):
    monkeypatch.setattr(_spec, "SCORERS", _spec.new_registry())
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "myscorers.py").write_text(textwrap.dedent(SCORER_MODULE))
    yield tmp_path
    sys.modules.pop("myscorers", None)


def _score(spec: ScorerSpec, target: object) -> object:
    return asyncio.run(build_scorer(spec)(EpisodeLog([]), Target.of(target)))


def test_a_registered_scorer_is_a_use_name(scorers) -> None:
    with pytest.raises(ValueError, match="unknown scorer 'length'"):
        ScorerSpec.model_validate({"use": "length"})
    import myscorers

    register_scorer("length", myscorers.long_answer)
    register_scorer("length", "myscorers:long_answer")  # the same function: accepted
    with pytest.raises(UserError, match="'length' is already registered"):
        register_scorer("length", myscorers.always)
    with pytest.raises(UserError, match="one of palaestra's own"):
        register_scorer("includes", myscorers.always)
    spec = ScorerSpec.model_validate({"use": "length", "threshold": 0.5})
    assert spec.label == "length"
    result = _score(spec, 4)  # no answer at all: 0 of 4 characters
    assert (result.value, result.success) == (0.0, False)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="`model` is not an option of scorer 'length'"):
        ScorerSpec.model_validate({"use": "length", "model": "judge"})
    assert parse_scorer_arg("length").use == "length"


def test_use_by_reference_and_by_entry_point(scorers) -> None:
    spec = ScorerSpec.model_validate({"use": "myscorers:always"})
    assert spec.label == "always"
    assert _score(spec, None).success  # type: ignore[attr-defined]
    info = scorers / "my_scorers-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-scorers\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(
        "[palaestra.scorers]\nmine.always = myscorers:always\nmine.broken = nowhere_xyz:f\n"
    )
    assert _score(ScorerSpec.model_validate({"use": "mine.always"}), None).success  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="distribution 'my-scorers 0.3' failed to import"):
        ScorerSpec.model_validate({"use": "mine.broken"})


def test_unknown_use_lists_kinds_and_plugins(scorers) -> None:
    register_scorer("length", "myscorers:long_answer")
    with pytest.raises(ValueError) as info:
        ScorerSpec.model_validate({"use": "includs"})
    message = str(info.value)
    assert "unknown scorer 'includs'; did you mean 'includes'" in message
    assert "model_graded" in message and "length" in message
    assert "'palaestra.scorers'" in message
    with pytest.raises(UserError, match=r"a plugin's \(length\)"):
        parse_scorer_arg("nothing")


KIND_MODULE = '''
from pydantic import Field
from palaestra.eval import ScoreResult, ScorerKind, ScorerOptions, register_scorer


class DigitsOptions(ScorerOptions):
    """`digits`: the final answer has at least `at_least` digits."""

    at_least: int = Field(ge=1)
    credit: float = Field(1.0, gt=0, le=1)


def build(options, build):
    async def score(log, target):
        texts = log.texts()
        digits = sum(ch.isdigit() for ch in (texts[-1] if texts else ""))
        ok = digits >= options.at_least
        return ScoreResult(options.credit if ok else 0.0, ok, metrics={"digits": digits})

    return score


register_scorer("digits", ScorerKind("digits", DigitsOptions, build, "digits in the answer"))
'''


@pytest.fixture
def digits_kind(scorers):
    (scorers / "digitkind.py").write_text(textwrap.dedent(KIND_MODULE))
    yield scorers
    sys.modules.pop("digitkind", None)


def test_palaestra_kinds_are_entries_with_their_own_options_models(scorers) -> None:
    """exact ... workspace_files are `ScorerKind`s of the registry a plugin joins; each
    validates its own options and refuses another kind's."""
    from palaestra.eval import SCORER_KINDS, ScorerKind

    kinds = _spec.SCORERS.all()
    assert set(SCORER_KINDS) <= set(kinds)
    assert all(isinstance(kind, ScorerKind) for kind in kinds.values())
    assert "tolerance" in kinds["numeric"].options.model_fields
    assert "tolerance" not in kinds["includes"].options.model_fields
    with pytest.raises(ValueError, match="which: Input should be 'first' or 'last'") as info:
        ScorerSpec.model_validate({"use": "numeric", "which": "middle"})
    assert "an option of scorer 'numeric'" in str(info.value)


def test_a_plugin_kind_declares_its_options_model(digits_kind, tmp_path, capsys) -> None:
    """A `ScorerKind` with its own options model: validated like a built-in's (field and
    kind named, unknown options refused, the file line given), usable from an
    experiment's `scorers:` and from `palaestra score --scorer`."""
    import palaestra
    from palaestra.cli._main import main
    from palaestra.core import ConfigError, import_modules
    from palaestra.runtime import Experiment
    from palaestra.store import Store

    import_modules(["digitkind"])
    spec = ScorerSpec.model_validate({"use": "digits", "at_least": 2, "name": "two"})
    assert spec.model_dump() == {"use": "digits", "name": "two", "at_least": 2}
    with pytest.raises(ValueError, match="`words` is not an option of scorer 'digits'"):
        ScorerSpec.model_validate({"use": "digits", "at_least": 1, "words": 3})
    with pytest.raises(ValueError, match="scorer 'digits' needs `at_least:`"):
        ScorerSpec.model_validate({"use": "digits"})

    path = tmp_path / "exp.yaml"
    head = "jobs:\n  - env: arith.drill\n    seeds: 2\n    scorers:\n"
    path.write_text(head + "      - use: digits\n        at_least: 0\n")
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    assert str(info.value).startswith(
        f"{path}:6: jobs.0.scorers.0.at_least: Input should be greater than or equal to 1"
    ), str(info.value)
    assert "(an option of scorer 'digits')" in str(info.value)

    path.write_text(
        head
        + "      - {use: digits, at_least: 1}\n      - {use: digits, at_least: 9, name: many}\n"
    )
    store = tmp_path / "runs.db"
    palaestra.run(Experiment.from_yaml(path), store=store)
    with Store(store) as db:
        run_id = db.resolve_run("last").run_id
        scores = [
            (e.payload.scorer, e.payload.success, e.payload.metrics["digits"])
            for ep in db.episodes(run_id)
            for e in db.events(run_id, ep.episode_id)
            if e.kind == "score" and e.payload.scorer in ("digits", "many")
        ]
    assert sorted(s[:2] for s in scores) == [("digits", True)] * 2 + [("many", False)] * 2
    argv = ["score", run_id, "--store", str(store), "--import", "digitkind", "--run-id", "re"]
    assert main([*argv, "--scorer", "{use: digits, at_least: 1, credit: 0.5, name: half}"]) == 0
    with Store(store) as db:
        values = [
            e.payload.value
            for ep in db.episodes("re")
            for e in db.events("re", ep.episode_id)
            if e.kind == "score" and e.payload.scorer == "half"
        ]
    assert values == [0.5, 0.5]
    assert main([*argv, "--scorer", "{use: digits, at_least: 1, credit: 2}"]) == 2
    assert "credit: Input should be less than or equal to 1" in capsys.readouterr().err
