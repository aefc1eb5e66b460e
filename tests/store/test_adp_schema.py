"""Our mirror of ADP's models, release by release, on the corpus of `adp_corpus.py`:
each case is accepted by exactly the releases that accept it, with the complaint named;
`read_adp` reads whatever some release reads, and 1.3.1 labels as 1.3.0."""

from __future__ import annotations

import io
import json

import pytest
from pydantic import ValidationError

from palaestra.core import UserError
from palaestra.store import (
    ADP_VERSIONS,
    Adp12Trajectory,
    Adp15Trajectory,
    AdpCodeAction,
    AdpDatasetMetadata,
    read_adp,
)
from palaestra.store._adp_metadata import is_browser_action, metadata_problems
from palaestra.store._adp_schema import TRAJECTORY_MODELS
from tests.store.adp_corpus import CASES, Case, api, code, msg, obs, traj


@pytest.mark.parametrize("version", ADP_VERSIONS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_release_accepts_exactly_its_cases(case: Case, version: str):
    model = TRAJECTORY_MODELS[version]
    if version in case.valid_in:
        model.model_validate(case.record)
    else:
        with pytest.raises(ValidationError, match=case.complaint):
            model.model_validate(case.record)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_read_adp_reads_what_some_release_reads(case: Case):
    line = io.StringIO(json.dumps(case.record) + "\n")
    if case.valid_in:
        (read,) = read_adp(line)
        assert read.id == "t"
    else:
        with pytest.raises(UserError, match=r"<stream>:1: not an ADP trajectory"):
            read_adp(line)


def test_the_corpus_covers_every_release_both_ways():
    for version in ADP_VERSIONS:
        assert any(version in c.valid_in for c in CASES)
        assert any(version not in c.valid_in for c in CASES)
    assert any(not c.valid_in for c in CASES)


def test_a_1_3_1_label_is_read_under_1_3_rules():
    good = traj([api(tool_call_id="c"), obs("ok", tool_call_id="c")], "1.3.1")
    (read,) = read_adp(io.StringIO(json.dumps(good)))
    assert read.VERSION == "1.3.0"
    bad = traj([api(), obs("ok")], "1.3.1")
    with pytest.raises(UserError, match="carries no tool_call_id"):
        read_adp(io.StringIO(json.dumps(bad)))


def test_an_item_without_class_is_given_the_class_of_adps_union():
    record = traj(
        [
            {"content": "hi", "source": "user"},
            {"language": "go", "content": "x", "description": None},
            {"content": "bye"},
        ]
    )
    read = Adp12Trajectory.model_validate(record)
    assert [i.class_ for i in read.content] == [
        "text_observation",
        "code_action",
        "message_action",
    ]


def test_serialised_items_leave_out_none_but_keep_required_nulls():
    item = AdpCodeAction(language="python", content="1", description=None)
    assert item.model_dump(mode="json") == {
        "class_": "code_action",
        "language": "python",
        "content": "1",
        "description": None,
    }


def test_numeric_details_must_be_finite():
    with pytest.raises(ValidationError, match="finite"):
        Adp12Trajectory.model_validate({**traj([msg()]), "details": {"score": float("nan")}})


def test_dataset_metadata_rules():
    tools = [{"type": "function", "function": {"name": "f"}}]
    meta = AdpDatasetMetadata.model_validate({"custom_tools": tools, "code_enabled": ["go"]})
    good = Adp15Trajectory.model_validate(
        traj([api("f"), code("go")], "1.5.0", available_custom_tools=["f"])
    )
    assert metadata_problems(meta, [good]) == []
    bad = Adp15Trajectory.model_validate(
        traj(
            [api("g"), code("rust"), api("click", kwargs={"bid": "12"})],
            "1.5.0",
            available_custom_tools=["f", "h"],
        )
    )
    problems = " | ".join(metadata_problems(meta, [bad]))
    assert "not in metadata: ['h']" in problems
    assert "'rust' not in code_enabled" in problems
    assert "'g' is not a custom tool" in problems
    assert "browser action but browser_enabled is false" in problems
    with pytest.raises(ValidationError, match="repeat"):
        AdpDatasetMetadata.model_validate({"custom_tools": tools * 2})
    with pytest.raises(ValidationError, match="not ADP code languages"):
        AdpDatasetMetadata.model_validate({"code_enabled": ["klingon"]})
    with pytest.raises(ValidationError, match="extra"):
        AdpDatasetMetadata.model_validate({"tools": []})


def test_browser_actions_follow_adps_rule():
    assert is_browser_action("click", {"bid": "a1"}, browsing=False)
    assert not is_browser_action("click", {"what": "a1"}, browsing=False)
    assert is_browser_action("click", {}, browsing=True)
    assert is_browser_action("goto", {"url": "http://a.test"}, browsing=False)
    assert not is_browser_action("go_back", {"url": "x"}, browsing=False)
    assert not is_browser_action("lookup", {"bid": "1"}, browsing=True)


def test_a_value_nested_too_deeply_to_write_is_a_user_error():
    from palaestra.store import Adp13Trajectory
    from palaestra.store._adp_schema import trajectory_json

    deep = json.loads("[" * 400 + "]" * 400)
    record = traj([api(kwargs={"a": deep})], "1.3.0")
    with pytest.raises(UserError, match="'t' cannot be written.*nested too deeply"):
        trajectory_json(Adp13Trajectory.model_validate(record))
