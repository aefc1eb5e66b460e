"""Config files as plain data, read under limits: the one YAML loader of palaestra.

Config files are hostile input (docs/configuration.md): a YAML alias bomb of nine levels
of nine expands to 387 million nodes from a few hundred bytes, 50 MB of comments keep a
pure-Python parser busy for minutes, and a thousand levels of nesting overflow Python's
stack. Every experiment, fault plan, contracts file, rubric, `train:` block and inline
`--scorer` mapping (and the text of a labels file) is read here, so each fails fast with
a one-line `ConfigError` that names the file, the line, the limit and how to raise it:

| limit | default | environment variable |
|---|---|---|
| file size | 4 MiB | `PALAESTRA_CONFIG_MAX_BYTES` |
| nesting depth (aliases expanded) | 64 | `PALAESTRA_CONFIG_MAX_DEPTH` |
| nodes as written | 100,000 | `PALAESTRA_CONFIG_MAX_NODES` |
| nodes with aliases expanded | 250,000 | `PALAESTRA_CONFIG_MAX_EXPANDED_NODES` |
| characters in one scalar | 1 MiB | `PALAESTRA_CONFIG_MAX_SCALAR_CHARS` |

The expanded size of each node is known when it is complete (its children's sizes are
memoised), so an alias bomb stops at the first level that crosses the limit, before
anything is expanded. What is accepted is plain data only: text, integers that fit in
64 bits, finite floats, booleans, null, lists and mappings with text or number keys, each
key once. Explicit tags other than the standard plain ones (`!!str`, `!!int`, ...) are
refused; dates are kept as the text written. Text must be UTF-8 without lone
surrogates.

The scanner and parser are libyaml's when PyYAML was built with it (a 4 MiB file parses
in well under a second); the composer is Python's, where the limits are checked. Shared
by every package that reads config; imports only `palaestra.core`.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from palaestra.core import ConfigError

Loc = tuple[str | int, ...]

_ENV = {
    "max_bytes": "PALAESTRA_CONFIG_MAX_BYTES",
    "max_depth": "PALAESTRA_CONFIG_MAX_DEPTH",
    "max_nodes": "PALAESTRA_CONFIG_MAX_NODES",
    "max_expanded_nodes": "PALAESTRA_CONFIG_MAX_EXPANDED_NODES",
    "max_scalar_chars": "PALAESTRA_CONFIG_MAX_SCALAR_CHARS",
}


@dataclass(frozen=True)
class ConfigLimits:
    """How much a config file may hold. The defaults are far above any real experiment
    and far below what exhausts memory or time; each can be raised through its
    environment variable (see the module docstring) or by passing limits."""

    max_bytes: int = 4 * 2**20
    """Size of the file in bytes, checked before it is read."""
    max_depth: int = 64
    """Levels of nested lists and mappings, counted with aliases expanded."""
    max_nodes: int = 100_000
    """Scalars, lists and mappings as written in the file."""
    max_expanded_nodes: int = 250_000
    """Nodes once every alias is replaced by what it refers to (what validation and the
    stored experiment see)."""
    max_scalar_chars: int = 2**20
    """Characters in one scalar (a prompt, a reply, a key)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConfigLimits:
        """The defaults, with any `PALAESTRA_CONFIG_MAX_*` variable that is set."""
        environ = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for field in fields(cls):
            raw = environ.get(_ENV[field.name])
            if raw is None or not raw.strip():
                continue
            try:
                value = int(raw.strip().replace("_", ""))
            except ValueError:
                value = 0
            if value < 1:
                raise ConfigError(
                    f"{_ENV[field.name]}={raw!r}: expected a whole number >= 1; "
                    f"unset it for the default ({getattr(cls, field.name):,})"
                )
            values[field.name] = value
        return cls(**values)


def _over(limit: str, limits: ConfigLimits, what: str) -> str:
    value = getattr(limits, limit)
    return (
        f"{what}, over the limit of {value:,} ({_ENV[limit]}); if the file is "
        f"legitimate, raise it, e.g. {_ENV[limit]}={value * 4}"
    )


def read_config_text(path: str | Path, *, what: str, limits: ConfigLimits | None = None) -> str:
    """The text of a config file, or a `ConfigError` naming the file and the fix: no
    such file, a directory or other non-file, unreadable, over the size limit (checked
    before reading), not UTF-8 (with the line of the first bad byte). A UTF-8 byte
    order mark is dropped."""
    limits = limits or ConfigLimits.from_env()
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}; check the path") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: is a directory; give the path of the {what} itself")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: not a regular file; give the path of the {what}")
    if info.st_size > limits.max_bytes:
        raise ConfigError(f"{path}: " + _over("max_bytes", limits, f"{info.st_size:,} bytes"))
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limits.max_bytes:  # grew since stat
        raise ConfigError(f"{path}: " + _over("max_bytes", limits, "more bytes"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
            f"{column}); save the file as UTF-8"
        ) from None


def load_yaml(
    text: str,
    *,
    source: str = "<string>",
    expected: str = "a mapping",
    limits: ConfigLimits | None = None,
) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text under `limits`; returns the data and a map from each value's path
    (keys and list indices) to its 1-based line. Any problem is a one-line
    `ConfigError` starting `source:line:`. An empty document is an error naming
    `expected` (what the file should hold)."""
    limits = limits or ConfigLimits.from_env()
    if len(text) > limits.max_bytes:  # text given directly, not read from a file
        raise ConfigError(f"{source}: " + _over("max_bytes", limits, f"{len(text):,} characters"))
    surrogate = _SURROGATE.search(text)
    if surrogate:  # text from the command line (undecodable bytes) or a str given in code
        line = text.count("\n", 0, surrogate.start()) + 1
        raise ConfigError(
            f"{source}:{line}: not valid text (undecodable byte or lone surrogate "
            f"{surrogate.group()!r}); use UTF-8"
        )
    loader: _Loader | None = None
    try:
        loader = _Loader(text, source, limits)  # Python's reader checks characters here
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(f"{source}: the file is empty; expected {expected}")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = exc.problem or exc.context or "invalid YAML"
        if "invalid Unicode character escape" in problem:  # libyaml: "\ud800" and the like
            problem += " (a surrogate?); write the character itself or a \\U0001XXXX escape"
        if "nesting depth" in problem:  # libyaml's own limit (1,000), above ours
            raise ConfigError(
                f"{where}: " + _over("max_depth", limits, "nesting too deep")
            ) from None
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        # libyaml reports a byte offset into the UTF-8 text, Python's reader a character
        before = text[: max(exc.position, 0)] if _PURE else text.encode()[: max(exc.position, 0)]
        line = before.count("\n" if _PURE else b"\n") + 1  # type: ignore[arg-type]
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ConfigError(
            f"{source}:{line}: invalid YAML: the control character {ord(char):#x} is not "
            "allowed; remove it or write it as an escape in a double-quoted string"
        ) from None
    except yaml.YAMLError as exc:  # errors without a position
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, _line_map(node)


def load_yaml_file(
    path: str | Path,
    *,
    what: str,
    expected: str = "a mapping",
    limits: ConfigLimits | None = None,
) -> tuple[Any, dict[Loc, int]]:
    """`read_config_text` then `load_yaml`, errors naming the file."""
    limits = limits or ConfigLimits.from_env()
    text = read_config_text(path, what=what, limits=limits)
    return load_yaml(text, source=str(path), expected=expected, limits=limits)


try:  # libyaml's scanner and parser when PyYAML has them; Python's composer either way
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]

    _PURE = False
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            _PyParser.__init__(self)

    _PURE = True

_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge", "timestamp", "value")
}
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = 2**63


class _Loader(Composer, _Parser, SafeConstructor, Resolver):
    """PyYAML's safe loader whose composer counts, measures and checks every node."""

    def __init__(self, text: str, source: str, limits: ConfigLimits) -> None:
        _Parser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.source = source
        self.limits = limits
        self.depth = 0
        self.nodes = 0
        self.sizes: dict[int, tuple[int, int]] = {}
        """id(node) -> (nodes with aliases expanded, height), for every complete node."""

    def fail(self, node_or_event: Any, message: str) -> ConfigError:
        mark = node_or_event.start_mark
        return ConfigError(f"{self.source}:{mark.line + 1}: {message}")

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        alias = isinstance(event, yaml.AliasEvent)
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth:
                raise self.fail(event, _over("max_depth", self.limits, "nesting too deep"))
            self.nodes += 1
            if self.nodes > self.limits.max_nodes:
                raise self.fail(event, _over("max_nodes", self.limits, "too many nodes"))
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if alias and id(node) not in self.sizes:
            raise self.fail(event, "an alias refers to a node that contains it (a cycle)")
        if not alias:
            self.check(node)
        size, height = self.sizes[id(node)]
        if size > self.limits.max_expanded_nodes:
            raise self.fail(
                event,
                _over("max_expanded_nodes", self.limits, f"{size:,} nodes with aliases expanded"),
            )
        if self.depth + height > self.limits.max_depth:
            raise self.fail(event, _over("max_depth", self.limits, "nesting too deep"))
        return node

    def check(self, node: Any) -> None:
        """Plain data only; record the node's expanded size and height."""
        tag = node.tag
        if tag not in _PLAIN_TAGS:
            raise self.fail(
                node,
                f"the YAML tag {tag.replace('tag:yaml.org,2002:', '!!')} is not allowed: "
                "config files hold plain data (text, numbers, booleans, null, lists, "
                "mappings); remove the tag",
            )
        if isinstance(node, yaml.ScalarNode):
            self.check_scalar(node)
            self.sizes[id(node)] = (1, 1)
            return
        children: list[Any]
        if isinstance(node, yaml.MappingNode):
            self.check_keys(node)
            children = [part for pair in node.value for part in pair]
        else:
            children = node.value
        size, height = 1, 0  # an empty collection is one level
        for child in children:
            child_size, child_height = self.sizes[id(child)]
            size += child_size
            height = max(height, child_height)
        self.sizes[id(node)] = (size, height + 1)

    def check_scalar(self, node: Any) -> None:
        value = node.value
        if len(value) > self.limits.max_scalar_chars:
            raise self.fail(
                node, _over("max_scalar_chars", self.limits, f"a scalar of {len(value):,} chars")
            )
        found = _SURROGATE.search(value)
        if found:
            raise self.fail(
                node,
                f"a lone surrogate (\\u{ord(found.group()):04x}) is not valid text; write "
                "the character itself or a \\U0001XXXX escape",
            )

    def check_keys(self, node: Any) -> None:
        seen: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                kind = "list" if isinstance(key, yaml.SequenceNode) else "mapping"
                raise self.fail(key, f"a {kind} as a mapping key; keys must be text or numbers")
            if key.tag == "tag:yaml.org,2002:merge":
                continue
            identity = self.key_identity(key)
            if identity in seen:
                raise self.fail(
                    key,
                    f"duplicate key {key.value!r} (first at line {seen[identity]}); "
                    "keep one of them",
                )
            seen[identity] = key.start_mark.line + 1

    def key_identity(self, key: Any) -> Any:
        if key.tag in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"):
            return ("str", key.value)
        value = self.construct_object(key)
        return (type(value).__name__, value)

    # plain data: dates (and YAML 1.1's `=`) stay text, integers fit in 64 bits, floats
    # are finite

    def construct_yaml_timestamp(self, node: Any) -> Any:
        return self.construct_scalar(node)

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            value = super().construct_yaml_int(node)
        except ValueError:  # more digits than Python converts
            value = _INT64
        if not -_INT64 <= value < _INT64:
            raise self.fail(
                node,
                f"the integer {node.value[:30]}{'...' if len(node.value) > 30 else ''} "
                "does not fit in 64 bits (-2**63 .. 2**63-1)",
            )
        return value

    def construct_yaml_float(self, node: Any) -> Any:
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise self.fail(
                node, f"{node.value!r} is not a finite number; config values are stored as JSON"
            )
        return value


_Loader.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    "tag:yaml.org,2002:timestamp": _Loader.construct_yaml_timestamp,
    "tag:yaml.org,2002:value": _Loader.construct_yaml_timestamp,  # YAML 1.1's `=`
    "tag:yaml.org,2002:int": _Loader.construct_yaml_int,
    "tag:yaml.org,2002:float": _Loader.construct_yaml_float,
}


def _line_map(root: Any) -> dict[Loc, int]:
    """Path -> 1-based line for every node as written: a key's line for a collection
    under it, the value's own line for a scalar. An aliased node is entered once (the
    paths through later aliases fall back to the alias's key), so the map is as large
    as the file, not as its expansion."""
    lines: dict[Loc, int] = {(): root.start_mark.line + 1}
    entered: set[int] = set()
    stack: list[tuple[Any, Loc]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in entered:
            continue
        entered.add(id(node))
        children: list[tuple[Any, Loc]] = []
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, key.value)
                scalar = isinstance(value, yaml.ScalarNode)
                lines[child] = (value if scalar else key).start_mark.line + 1
                children.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                children.append((item, (*path, index)))
        stack.extend(reversed(children))  # in document order: an anchor before its aliases
    return lines
