"""Reading an argument as the list of items (e-mail addresses, ids) it really names.

A regular expression searched in a whole argument is the wrong test for "every
recipient is a customer": ``'@example\\.com$'`` is found in
``"evil@x.net, someone@example.com"``, in ``"evil@x.net\\nsomeone@example.com"`` and in
``'"someone@example.com" <evil@x.net>'``, and a mail system delivers each of those to
evil@x.net. These helpers split a value into its items first and judge each one, and
refuse what they cannot read (fail closed):

- `items_of(value, split)`: a JSON array's elements, or a string cut at the `split`
  regex (by default commas, semicolons and any whitespace, newlines included); empty
  pieces dropped;
- `address_list(value)`: a string (or an array of strings) read as the mail header
  ``To:`` is, strictly: items separated by commas, semicolons or line breaks (not inside
  double quotes), each ``local@domain`` or ``Display Name <local@domain>``. An item that
  is not exactly that — a display name holding ``@`` or angle brackets, a quoted or
  source-routed local part (``"a b"@x``, ``a%b@x``, ``a!b@x``), a domain literal
  (``a@[10.0.0.1]``), a non-ASCII domain (a lookalike such as ``exаmple.com`` with a
  Cyrillic а; write real ones in punycode) — makes the whole value unreadable;
- `domain_allowed(domain, allowed)`: a domain (lower case, no trailing dot) in a list
  whose entries are domains (``example.com``: that domain only) or, with a leading
  ``.`` or ``*.``, a domain and its subdomains.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_SPLIT = r"[,;\s]+"
"""Where `items_of` cuts a string: commas, semicolons, whitespace (newlines included)."""
MAX_ITEMS = 1000
"""Most items a value may hold; more makes it unreadable (a limit on the work done)."""

_LOCAL = re.compile(r"[A-Za-z0-9.#$&'*+/=?^_`{|}~-]+")
"""A dot-atom local part, without ``%`` and ``!`` (old relay syntaxes) and quotes."""
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_ADDRESS_SEPARATORS = frozenset(",;\n\r")


def items_of(value: Any, split: str = DEFAULT_SPLIT) -> list[Any] | None:
    """The items `value` holds: its elements (an array), its non-empty pieces cut at
    `split` (a string); None for any other value or more than `MAX_ITEMS` items."""
    if isinstance(value, list):
        items: list[Any] = value
    elif isinstance(value, str):
        items = [piece for piece in re.split(split, value) if piece]
    else:
        return None
    return items if len(items) <= MAX_ITEMS else None


def _split_outside_quotes(text: str) -> list[str] | None:
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char in _ADDRESS_SEPARATORS and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        return None  # an unclosed quote: unreadable
    pieces.append("".join(current))
    return [p.strip(" \t") for p in pieces if p.strip(" \t")]


def parse_address(item: str) -> tuple[str, str] | None:
    """(local part, domain in lower case without a trailing dot) of one address item,
    ``local@domain`` or ``Display Name <local@domain>``; None when not exactly that."""
    item = item.strip(" \t")
    if "<" in item or ">" in item:
        name, sep, rest = item.partition("<")
        address, close, tail = rest.partition(">")
        if not sep or not close or tail.strip(" \t"):
            return None
        if any(c in name for c in "@<>\\") or any(ord(c) < 0x20 for c in name):
            return None
        if name.count('"') not in (0, 2):
            return None
        if name.count('"') == 2 and not (
            name.strip(" \t").startswith('"') and name.strip(" \t").endswith('"')
        ):
            return None
        item = address.strip(" \t")
    local, at, domain = item.rpartition("@")
    if not at or not _LOCAL.fullmatch(local) or ".." in local:
        return None
    if local.startswith(".") or local.endswith("."):
        return None
    if not domain.isascii():
        return None
    domain = domain.lower()
    if domain.endswith("."):
        domain = domain[:-1]
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return local, domain


def address_list(value: Any) -> list[tuple[str, str]] | None:
    """Every address a recipient value names (see the module docstring); None when any
    part of it is not a plain address, or it names none."""
    if isinstance(value, list):
        texts = value
    elif isinstance(value, str):
        texts = [value]
    else:
        return None
    addresses: list[tuple[str, str]] = []
    for text in texts:
        if not isinstance(text, str):
            return None
        pieces = _split_outside_quotes(text)
        if pieces is None:
            return None
        for piece in pieces:
            parsed = parse_address(piece)
            if parsed is None:
                return None
            addresses.append(parsed)
            if len(addresses) > MAX_ITEMS:
                return None
    return addresses or None


def domain_allowed(domain: str, allowed: list[str]) -> bool:
    """Whether `domain` is one of `allowed` (``.d`` / ``*.d``: d and its subdomains)."""
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry.startswith("*."):
            entry = entry[1:]
        if entry.startswith("."):
            if domain == entry[1:] or domain.endswith(entry):
                return True
        elif domain == entry:
            return True
    return False
