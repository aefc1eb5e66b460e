"""A corpus of ADP trajectories that exercises every rule of every ADP version palaestra
writes: for each case, which releases' models accept it (ADP 1.2.0, 1.3.0, 1.5.0) and,
for those that reject it, words of the complaint. `test_adp_schema.py` runs it against
our mirror of each release's models and through `read_adp`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def obs(content: str, source: str = "environment", **extra: Any) -> dict[str, Any]:
    return {"class_": "text_observation", "content": content, "source": source, **extra}


def api(function: str = "f", **extra: Any) -> dict[str, Any]:
    return {"class_": "api_action", "function": function, "kwargs": {}, **extra}


def code(language: str = "python", content: str = "print(1)", **extra: Any) -> dict[str, Any]:
    return {
        "class_": "code_action",
        "language": language,
        "content": content,
        "description": None,
        **extra,
    }


def msg(content: str = "done", **extra: Any) -> dict[str, Any]:
    return {"class_": "message_action", "content": content, **extra}


def traj(content: list[Any], version: str = "1.2.0", **extra: Any) -> dict[str, Any]:
    return {"schema_version": version, "id": "t", "content": content, "details": {}, **extra}


@dataclass(frozen=True)
class Case:
    """One trajectory and what each ADP release says of it."""

    name: str
    record: dict[str, Any]
    valid_in: frozenset[str]
    """Releases whose models accept it."""
    complaint: str = ""
    """Words of the error of the releases that reject it (a regular expression)."""


ALL = frozenset({"1.2.0", "1.3.0", "1.5.0"})
LINKED = frozenset({"1.3.0", "1.5.0"})
NONE: frozenset[str] = frozenset()

CASES = [
    # -- what every version accepts ------------------------------------------------------
    Case(
        "adjacency pairs, no ids (1.2.0's way), read by all",
        traj([obs("hi", "user"), api(), obs("ok")], "1.2.0"),
        frozenset({"1.2.0"}),
        "carries no tool_call_id",
    ),
    Case(
        "ids on a 1.2.0 label: ADP 1.2.0 rejects what 1.3 reads",
        traj([api(tool_call_id="c1"), obs("ok", tool_call_id="c1")], "1.2.0"),
        LINKED,
        "tool_call_id",
    ),
    Case(
        "linked call and result",
        traj([api(tool_call_id="c1"), obs("ok", tool_call_id="c1")], "1.3.0"),
        LINKED,
        "tool_call_id",
    ),
    Case(
        "parallel calls written call, result, call, result",
        traj(
            [
                api("a", tool_call_id="c1"),
                obs("A", tool_call_id="c1"),
                api("b", tool_call_id="c2"),
                obs("B", tool_call_id="c2"),
            ],
            "1.3.0",
        ),
        LINKED,
        "tool_call_id",
    ),
    Case(
        "parallel calls written call, call, result, result are still linked",
        traj(
            [
                api("a", tool_call_id="c1"),
                api("b", tool_call_id="c2"),
                obs("A", tool_call_id="c1"),
                obs("B", tool_call_id="c2"),
            ],
            "1.3.0",
        ),
        LINKED,
        "tool_call_id",
    ),
    Case(
        "an empty observation",
        traj([obs(""), msg()], "1.2.0"),
        ALL,
    ),
    Case(
        "a received message is the user's input, named",
        traj([obs("Q1?", "user", name="agent/boss"), msg("14")], "1.2.0"),
        ALL,
    ),
    Case(
        "code in a language other than python and bash",
        traj([code("javascript", "console.log(1)"), code("rust", "fn main() {}")], "1.2.0"),
        ALL,
    ),
    Case(
        "a misspelt language that ADP's list holds",
        traj([code("javasript")], "1.2.0"),
        ALL,
    ),
    Case(
        "an item without class_ takes the class ADP's union gives it",
        traj([{"content": "hi", "source": "user"}, {"function": "f", "kwargs": {}}], "1.2.0"),
        ALL,
    ),
    Case(
        "image annotations with keys ADP does not know (ignored, plain models)",
        traj(
            [
                {
                    "class_": "image_observation",
                    "content": "shot.png",
                    "source": "environment",
                    "annotations": [
                        {
                            "text": "OK",
                            "element_type": "button",
                            "bounding_box": {"x": 1, "y": 2, "width": 3, "height": 4},
                            "z_index": 7,
                        }
                    ],
                }
            ],
            "1.2.0",
        ),
        ALL,
    ),
    Case(
        "a web observation without axtree",
        traj(
            [
                {
                    "class_": "web_observation",
                    "html": "<p>x</p>",
                    "url": "http://a.test/",
                    "image_observation": None,
                    "viewport_size": [800, 600],
                }
            ],
            "1.2.0",
        ),
        ALL,
    ),
    Case(
        "an unanswered call at the end (no observation follows)",
        traj([obs("go", "user"), api("submit")], "1.2.0"),
        ALL,
    ),
    Case("labels 1.1.0 and 1.0.0 are read by every release", traj([msg()], "1.0.0"), ALL),
    # -- the link rules of 1.3.0 and later --------------------------------------------------
    Case(
        "a tool action directly followed by an observation needs an id",
        traj([api(), obs("ok")], "1.3.0"),
        NONE,
        "carries no tool_call_id|schema_version",
    ),
    Case(
        "an unexecuted proposal followed by a peer's message (no id, no result)",
        traj([api("answer"), obs("b says 125", "user", name="agent/b")], "1.3.0"),
        NONE,
        "carries no tool_call_id|schema_version",
    ),
    Case(
        "an id on a message_action",
        traj([msg(tool_call_id="c1")], "1.3.0"),
        NONE,
        "message_action|tool_call_id",
    ),
    Case(
        "two actions with one id",
        traj([api(tool_call_id="c1"), api(tool_call_id="c1")], "1.3.0"),
        NONE,
        "repeats the action|tool_call_id",
    ),
    Case(
        "a result of no preceding action",
        traj([obs("ok", tool_call_id="c9"), api(tool_call_id="c9")], "1.3.0"),
        NONE,
        "matches no preceding action|tool_call_id",
    ),
    Case(
        "two results of one call",
        traj(
            [api(tool_call_id="c1"), obs("a", tool_call_id="c1"), obs("b", tool_call_id="c1")],
            "1.3.0",
        ),
        NONE,
        "second result|tool_call_id",
    ),
    Case(
        "an id never answered",
        traj([api(tool_call_id="c1"), msg()], "1.3.0"),
        NONE,
        "no observation answering|tool_call_id",
    ),
    Case(
        "a linked result from the user",
        traj([api(tool_call_id="c1"), obs("ok", "user", tool_call_id="c1")], "1.3.0"),
        NONE,
        "source 'user'|tool_call_id",
    ),
    # -- version labels and field names -------------------------------------------------------
    Case(
        "a 1.3.0 label is unknown to ADP 1.2.0",
        traj([msg()], "1.3.0"),
        LINKED,
        "unsupported schema_version",
    ),
    Case(
        "a 1.5.0 label is unknown to ADP 1.3.0",
        traj([msg()], "1.5.0"),
        frozenset({"1.5.0"}),
        "unsupported schema_version",
    ),
    Case(
        "1.4.0 is read by ADP 1.5.0",
        traj([msg()], "1.4.0"),
        frozenset({"1.5.0"}),
        "unsupported schema_version",
    ),
    Case(
        "available_apis (1.2.0, 1.3.0) is gone in 1.5.0",
        traj([api("f")], "1.3.0", available_apis=["f"]),
        frozenset({"1.3.0"}),
        "available_apis|schema_version",
    ),
    Case(
        "available_custom_tools is 1.5.0's",
        traj([api("f")], "1.5.0", available_custom_tools=["f"]),
        frozenset({"1.5.0"}),
        "available_custom_tools|schema_version",
    ),
    Case(
        "available_code_languages: exactly the languages used",
        traj([code("go")], "1.5.0", available_code_languages=["go"]),
        frozenset({"1.5.0"}),
        "available_code_languages|schema_version",
    ),
    Case(
        "available_code_languages naming an unused language",
        traj([code("go")], "1.5.0", available_code_languages=["go", "rust"]),
        NONE,
        "available_code_languages|schema_version",
    ),
    Case(
        "available_code_languages naming a language ADP does not know",
        traj([], "1.5.0", available_code_languages=["klingon"]),
        NONE,
        "available_code_languages|schema_version",
    ),
    # -- what no version accepts --------------------------------------------------------------
    Case("a label no release lists", traj([msg()], "0.9.0"), NONE, "unsupported schema_version"),
    Case(
        "a language outside ADP's list",
        traj([code("klingon")], "1.2.0"),
        NONE,
        "code languages",
    ),
    Case(
        "an unknown field on the trajectory",
        traj([msg()], "1.2.0", colour="red"),
        NONE,
        "colour|schema_version",
    ),
    Case(
        "an unknown field on an item",
        traj([{**msg(), "colour": "red"}], "1.2.0"),
        NONE,
        "colour",
    ),
    Case(
        "a source that is not a role",
        traj([obs("x", "system")], "1.2.0"),
        NONE,
        "source",
    ),
    Case(
        "code_action.description is required (it may be null)",
        traj([{"class_": "code_action", "language": "python", "content": "1"}], "1.2.0"),
        NONE,
        "description",
    ),
    Case(
        "a web observation without html",
        traj(
            [
                {
                    "class_": "web_observation",
                    "url": None,
                    "image_observation": None,
                    "viewport_size": None,
                }
            ],
            "1.2.0",
        ),
        NONE,
        "html",
    ),
]
