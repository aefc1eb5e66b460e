"""Recorded text reaches the terminal inert: `printable` escapes control, format and
bidi characters, and every human-readable printer of the `palaestra` command goes
through it, while ``--json`` stays exact JSON."""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import palaestra
from palaestra.cli import main
from palaestra.cli._terminal import ESCAPED_CATEGORIES, SafeText, printable, safe_stdout
from palaestra.models import ScriptedModel

HOSTILE = (
    "Done \x1b[2J\x1b[H cleared \x1b]0;owned\x07 title "
    "\x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\ link "
    "\x9b31m c1 \x85 nel \u202egnp.exe\u202c rlo \u2066iso\u2069 \u200bzw \U000e0041tag "
    "\r overwrite \x08\x7f del"
)
RAW = ["\x1b", "\x07", "\x9b", "\x85", "\u202e", "\u202c", "\u2066", "\u2069", "\u200b",
       "\U000e0041", "\r", "\x08", "\x7f"]  # fmt: skip


def _no_raw(text: str) -> None:
    for char in RAW:
        assert char not in text, f"raw {char!r} reached the terminal"
    bad = {c for c in text if unicodedata.category(c) in ESCAPED_CATEGORIES and c not in "\n\t"}
    assert not bad, bad


def test_printable_escapes_each_kind_visibly():
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("bell\x07 osc\x1b]0;t\x07") == "bell\\x07 osc\\x1b]0;t\\x07"
    assert printable("\x9b\x85\x7f") == "\\u009b\\u0085\\u007f"
    assert printable("abc\u202edef") == "abc\\u202edef"
    assert printable("\u2066\u2069\u200b\ufeff") == "\\u2066\\u2069\\u200b\\ufeff"
    assert printable("\U000e0041") == "\\udb40\\udc41"  # a surrogate pair, as in JSON
    assert printable("lone \ud800") == "lone \\ud800"
    assert printable("line\u2028para\u2029") == "line\\u2028para\\u2029"
    assert printable("cr\rlf\ntab\t") == "cr\\x0dlf\ntab\t"
    assert printable("no\nnewline", keep="") == "no\\x0anewline"


def test_printable_leaves_text_of_every_script_alone():
    text = "héllo wörld — 日本語 العربية עברית 🙂 ∑ ｆｕｌｌ"
    assert printable(text) == text
    assert printable("plain ASCII, with a \\x1b written out") == (
        "plain ASCII, with a \\x1b written out"
    )


def test_printable_is_idempotent_and_its_output_is_inert():
    once = printable(HOSTILE)
    assert printable(once) == once
    _no_raw(once)
    assert once.isascii() or all(unicodedata.category(c) not in ESCAPED_CATEGORIES for c in once)


def test_every_code_point_is_escaped_exactly_when_its_category_says_so():
    for code in range(0x110000):
        char = chr(code)
        out = printable(char, keep="")
        if unicodedata.category(char) in ESCAPED_CATEGORIES:
            assert out != char and out.startswith("\\") and out.isascii(), hex(code)
        else:
            assert out == char, hex(code)


def test_the_escapes_of_del_and_c1_are_json_escapes():
    text = "\x7f\x9b\u202e\U000e0041\ud800"
    assert json.loads(f'"{printable(text)}"') == text


any_text = st.text(st.characters(exclude_categories=[]))  # surrogates and controls too
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, database=None)
@given(value=json_values, ascii_only=st.booleans())
def test_json_written_through_printable_parses_to_the_same_value(value, ascii_only):
    """What `palaestra ... --json` or an export to standard output writes stays exact."""
    text = json.dumps(value, ensure_ascii=ascii_only, indent=2)
    assert json.loads(printable(text)) == value


def test_safe_text_passes_binary_output_and_file_methods_through(tmp_path: Path):
    with open(tmp_path / "out.txt", "w", encoding="utf-8") as stream:
        safe = SafeText(stream)
        assert safe.write("x\x1by") == 3
        safe.flush()
        safe.buffer.write(b"\x1b")  # binary output (exports) is data, untouched
        assert safe.fileno() == stream.fileno()
    assert (tmp_path / "out.txt").read_bytes() == b"x\\x1by\x1b"
    original = sys.stdout
    with safe_stdout():
        assert isinstance(sys.stdout, SafeText)
    assert sys.stdout is original


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real run whose model says HOSTILE, calls a tool named with escapes, and whose
    run and job names carry them too."""
    store = tmp_path_factory.mktemp("terminal") / "runs.db"
    model = ScriptedModel(
        [
            ScriptedModel.call("\x1b[31mfind_user\u202e", email="\x1b]52;c;cm0gLXJmIH4=\x07"),
            HOSTILE,
        ]
    )
    experiment = {
        "name": "hostile\x1b[8m",
        "seed": 0,
        "jobs": [
            {
                "env": "tooluse.store",
                "label": "job\u202e",
                "tasks": 1,
                "max_steps": 2,
                "operator": {"kind": "llm", "model": "default"},
            }
        ],
    }
    result = palaestra.run(experiment, store=store, run_id="hostile", models={"default": model})
    return store, result.episodes[0].episode_id


def test_show_escapes_a_runs_recorded_text(hostile_run, capsys):
    store, episode = hostile_run
    for argv in (
        ["runs"],
        ["show", "hostile"],
        ["show", "hostile", episode],
        ["show", "hostile", episode, "--at", "3", "--context", "10"],
        ["diagnose", "hostile"],
    ):
        code = main([*argv, "--store", str(store)])
        out = capsys.readouterr().out
        assert code in (0, 1), (argv, out)
        _no_raw(out)
        assert out.strip(), argv
    timeline = main(["show", "hostile", episode, "--store", str(store)])
    assert timeline == 0
    out = capsys.readouterr().out
    assert "\\x1b[31mfind_user\\u202e" in out  # the tool name the model made up, visible
    assert "\\u202egnp.exe" in out or "\\x1b[2J" in out


def test_json_output_stays_exact_json(hostile_run, capsys):
    store, episode = hostile_run
    assert main(["show", "hostile", episode, "--json", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.isascii()  # ensure_ascii: bidi and C1 characters are JSON escapes
    events = json.loads(out)
    said = [
        e["payload"]["message"]["content"]
        for e in events
        if e["kind"] == "model_response" and e["payload"]["message"]
    ]
    assert HOSTILE in said  # exact once parsed


def test_error_messages_are_escaped(hostile_run, capsys):
    store, _ = hostile_run
    assert main(["show", "\x1b]0;x\x07nope\u202e", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "\\x1b]0;x\\x07nope\\u202e" in err
    _no_raw(err)
