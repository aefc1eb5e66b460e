"""The config loader (`palaestra._safe_yaml`) on hostile files: every limit fails fast
with a one-line error naming the file, the line, the limit and how to raise it; only
plain data gets through; and what it accepts equals what PyYAML's safe loader reads."""

from __future__ import annotations

import math
import os
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaestra._safe_yaml import ConfigLimits, load_yaml, load_yaml_file, read_config_text
from palaestra.core import ConfigError


def _error(text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_yaml(text, source="x.yaml", **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("x.yaml")
    return message


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_stops_at_the_first_level_over_the_limit() -> None:
    tracemalloc.start()
    try:
        message = _error(_bomb())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # nine levels of nine are 387 million nodes; level 6 (531,441) crosses 250,000
    assert message.startswith("x.yaml:6: 597,871 nodes with aliases expanded")
    assert "PALAESTRA_CONFIG_MAX_EXPANDED_NODES" in message and "raise it" in message
    assert peak < 5_000_000  # bytes: nothing was expanded


def test_aliases_within_the_limit_are_plain_shared_data() -> None:
    data, lines = load_yaml("base: &b {model: m, tools: [x]}\nuse: *b\nmore: [*b, *b]\n")
    assert data["use"] == data["more"][0] == {"model": "m", "tools": ["x"]}
    assert lines[("use",)] == 2 and lines[("base", "model")] == 1


def test_a_recursive_alias_is_an_error() -> None:
    assert "a cycle" in _error("a: &x [1, *x]\n")


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 1000 + "]" * 1000 + "\n",
        "x: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n",
        "".join("  " * i + f"k{i}:\n" for i in range(1000)) + "  " * 1000 + "v\n",
        "".join("  " * i + "-\n" for i in range(1000)),
    ],
    ids=["flow-lists", "flow-maps", "block-maps", "block-lists"],
)
def test_a_thousand_levels_of_nesting_is_a_clear_error(text: str) -> None:
    message = _error(text)
    assert "nesting too deep, over the limit of 64 (PALAESTRA_CONFIG_MAX_DEPTH)" in message


def test_depth_counts_through_aliases() -> None:
    deep = "[" * 40 + "1" + "]" * 40
    assert "nesting too deep" in _error(f"a: &d {deep}\nb: {'[' * 40}*d{']' * 40}\n")


def test_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PALAESTRA_CONFIG_MAX_DEPTH", "300")
    data, _ = load_yaml("x: " + "[" * 200 + "]" * 200 + "\n")
    assert isinstance(data["x"], list)
    monkeypatch.setenv("PALAESTRA_CONFIG_MAX_SCALAR_CHARS", "10")
    assert "a scalar of 11 chars, over the limit of 10" in _error("x: abcdefghijk\n")
    monkeypatch.setenv("PALAESTRA_CONFIG_MAX_NODES", "5")
    assert "too many nodes, over the limit of 5" in _error("[1, 2, 3, 4, 5, 6]\n")
    monkeypatch.setenv("PALAESTRA_CONFIG_MAX_NODES", "lots")
    with pytest.raises(ConfigError, match="PALAESTRA_CONFIG_MAX_NODES='lots': expected a whole"):
        load_yaml("a: 1\n")


def test_fifty_megabytes_of_comments_are_refused_before_reading(tmp_path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.write(b"# a comment\n")
        handle.truncate(50 * 2**20)  # sparse: the size is checked before reading
    with pytest.raises(ConfigError) as info:
        load_yaml_file(path, what="experiment file")
    message = str(info.value)
    assert message.startswith(f"{path}: 52,428,800 bytes, over the limit of 4,194,304")
    assert "PALAESTRA_CONFIG_MAX_BYTES=16777216" in message
    # text handed over directly is held to the same limit
    limits = ConfigLimits(max_bytes=100)
    assert "characters, over the limit of 100" in _error("#" * 101, limits=limits)


def test_duplicate_keys_name_both_lines() -> None:
    assert _error("name: a\njobs: []\nname: b\n") == (
        "x.yaml:3: duplicate key 'name' (first at line 1); keep one of them"
    )
    assert "x.yaml:4: duplicate key 'n'" in _error("jobs:\n  - env: e\n    n: 1\n    n: 2\n")
    assert "duplicate key '01' (first at line 1)" in _error("1: a\n01: b\n")
    assert "duplicate key 'a'" in _error('a: 1\n"a": 2\n')
    # a merge key brings defaults that the mapping's own keys override: no duplicate
    data, _ = load_yaml("d: &d {x: 1, y: 2}\ne:\n  <<: *d\n  x: 3\n")
    assert data["e"] == {"x": 3, "y": 2}


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system [echo]",
        "!!python/name:os.system",
        "!foo x",
        "!!binary aGk=",
        "!!set {a: null}",
        "!!omap [{a: 1}]",
    ],
)
def test_tags_that_are_not_plain_data_are_refused(tag: str) -> None:
    message = _error(f"name: x\nrun: {tag}\n")
    assert message.startswith("x.yaml:2: the YAML tag !") and "remove the tag" in message


def test_plain_tags_dates_and_numbers() -> None:
    data, _ = load_yaml("a: !!str 12\nb: 2024-01-01\nc: 1.5\nd: 0x10\ne: =\nf: ~\n")
    assert data == {"a": "12", "b": "2024-01-01", "c": 1.5, "d": 16, "e": "=", "f": None}


@pytest.mark.parametrize("text", ["seed: 9223372036854775808\n", f"seed: {'9' * 5000}\n"])
def test_integers_must_fit_in_64_bits(text: str) -> None:
    assert "does not fit in 64 bits" in _error(text)
    assert load_yaml("seed: 9223372036854775807\n")[0] == {"seed": 2**63 - 1}


@pytest.mark.parametrize("value", [".nan", ".inf", "-.Inf", "1.0e+999"])
def test_floats_must_be_finite(value: str) -> None:
    assert f"'{value}' is not a finite number" in _error(f"t: {value}\n")


@pytest.mark.parametrize(
    ("text", "kind"), [("? [a, b]\n: 1\n", "list"), ("? {a: 1}\n: 1\n", "mapping")]
)
def test_keys_must_be_text_or_numbers(text: str, kind: str) -> None:
    assert _error(text) == f"x.yaml:1: a {kind} as a mapping key; keys must be text or numbers"


def test_text_must_be_valid() -> None:
    assert _error("a: 1\nb: \x00\n").startswith("x.yaml:2: invalid YAML: the control character")
    escaped = _error('a: 1\nb: "\\ud800"\n')  # an escaped lone surrogate
    assert escaped.startswith("x.yaml:2: ") and "\\U0001XXXX escape" in escaped
    assert "lone surrogate" in _error("a: 1\nb: x\udcff\n")  # undecodable command-line bytes
    assert _error("a: [1\n").startswith("x.yaml:2: invalid YAML: ")
    assert _error("a: 1\n---\nb: 2\n").startswith("x.yaml:2: invalid YAML: ")
    assert _error("# only a comment\n", expected="a plan") == (
        "x.yaml: the file is empty; expected a plan"
    )


def test_files_that_are_not_utf8_text(tmp_path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_bytes(b"name: x\njobs:\n  - env: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        read_config_text(path, what="experiment file")
    assert str(info.value) == (
        f"{path}:3: not UTF-8 text (byte 0xff at column 10); save the file as UTF-8"
    )
    path.write_bytes("name: x\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="exp.yaml:1: not UTF-8 text"):
        read_config_text(path, what="experiment file")
    path.write_bytes(b"name: x\nb: \xed\xa0\x80\n")  # an encoded surrogate is not UTF-8
    with pytest.raises(ConfigError, match="exp.yaml:2: not UTF-8 text"):
        read_config_text(path, what="experiment file")
    path.write_bytes(b"\xef\xbb\xbfname: x\n")  # a byte order mark is fine
    assert load_yaml_file(path, what="experiment file")[0] == {"name": "x"}


def test_paths_that_are_not_a_file(tmp_path) -> None:
    with pytest.raises(ConfigError) as info:
        read_config_text(tmp_path, what="fault plan file")
    assert (
        str(info.value)
        == f"{tmp_path}: is a directory; give the path of the fault plan file itself"
    )
    with pytest.raises(ConfigError, match="missing.yaml: no such rubric file; check the path"):
        read_config_text(tmp_path / "missing.yaml", what="rubric file")
    with pytest.raises(ConfigError, match="/dev/null: not a regular file"):
        read_config_text("/dev/null", what="contracts file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # would block a plain open() forever
    with pytest.raises(ConfigError, match="fifo: not a regular file"):
        read_config_text(fifo, what="experiment file")


def test_line_map_names_keys_items_and_values() -> None:
    _, lines = load_yaml("name: x\njobs:\n  - env: a\n    params:\n      n: 4\n  - env: b\n")
    assert lines[("jobs",)] == 2 and lines[("jobs", 0)] == 3
    assert lines[("jobs", 0, "params")] == 4 and lines[("jobs", 0, "params", "n")] == 5
    assert lines[("jobs", 1, "env")] == 6


def test_without_libyaml_the_python_parser_gives_the_same_answers(monkeypatch) -> None:
    """PyYAML built without libyaml: the pure-Python scanner and parser under the same
    composer (a fresh copy of the module, loaded with `yaml.cyaml` unavailable)."""
    import importlib.util
    import sys

    import palaestra._safe_yaml as with_libyaml

    monkeypatch.setitem(sys.modules, "yaml.cyaml", None)
    spec = importlib.util.spec_from_file_location("_pure_safe_yaml", with_libyaml.__file__)
    assert spec is not None and spec.loader is not None
    pure = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "_pure_safe_yaml", pure)
    spec.loader.exec_module(pure)
    assert pure._PURE and not with_libyaml._PURE
    texts = [
        "a: 1\nb: [1, {c: d}]\nd: &x {e: 2}\nf: *x\n",
        "a: 1\nb: \x00\n",
        "x: " + "[" * 1000 + "]" * 1000 + "\n",
        "a: 1\na: 2\n",
        _bomb(),
        "a: !!binary aGk=\n",
    ]
    for text in texts:
        outcomes = []
        for module in (with_libyaml, pure):
            try:
                outcomes.append(module.load_yaml(text, source="x.yaml"))
            except ConfigError as exc:
                outcomes.append(str(exc).split(": ")[0])  # x.yaml:LINE
        assert outcomes[0] == outcomes[1], text


# -- properties ------------------------------------------------------------------------

# YAML reads control characters and U+2028/U+2029 as line breaks: not text a dump keeps
_chars = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_chars, max_size=20)
)
_data = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(_chars, min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_data)
def test_plain_data_round_trips_as_pyyaml_reads_it(value) -> None:
    text = yaml.safe_dump({"v": value}, allow_unicode=True)
    loaded, _ = load_yaml(text)
    assert loaded == yaml.safe_load(text) == {"v": value}


_yaml_bits = st.sampled_from(
    ["a", ":", " ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "&x ", "*x", "!!str ", "!t ",
     "? ", "<<: ", '"', "'", "\\u", "#", "1", "0x", ".nan", "2024-01-01", "~", "|\n", ">\n",
     "\t", "---\n", "%YAML 1.1\n", "\ud800", "\x00", "é"]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_yaml_bits, max_size=40).map("".join))
def test_any_text_loads_or_fails_with_one_line_naming_the_source(text: str) -> None:
    try:
        data, lines = load_yaml(text, source="f.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("f.yaml") and "\n" not in message
        return
    assert () in lines
    _assert_plain(data)


def _assert_plain(value) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str | int | float | bool | type(None))
            _assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain(item)
    else:
        assert isinstance(value, str | int | float | bool | type(None))
        if isinstance(value, float):
            assert math.isfinite(value)
        if isinstance(value, int):
            assert -(2**63) <= value < 2**63
