"""Scorers from outside packages: `use: NAME` for one registered with `register_scorer`
or by an entry point in group `palaestra.scorers`, `use: package.module:function`, and
the error for a name nobody knows."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import pytest

from palaestra.core import Registry, UserError
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
    fresh = Registry(
        "scorer", "palaestra.scorers", adapt=_spec._as_scorer_function, same=_spec.SCORERS._same
    )
    monkeypatch.setattr(_spec, "SCORERS", fresh)
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
