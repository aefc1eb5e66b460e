"""The tolerant answer readers: what a person would accept, and clear errors otherwise."""

from __future__ import annotations

import pytest

from palaestra.envs.graph._answers import NO_PARTNER, parse_bit, parse_partner, parse_yes_no
from palaestra.envs.graph._names import FIRST_NAMES


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Yes", True),
        ("yes.", True),
        ("**YES**", True),
        ("No", False),
        ("no, Bob is the leader", False),
        ("`No`", False),
        ("I think yes", True),
        ("not me: no", False),
        (True, True),
        (False, False),
        ("true", True),
    ],
)
def test_yes_no_is_read_leniently(raw, expected):
    assert parse_yes_no(raw) == (expected, "")


@pytest.mark.parametrize(
    "raw, error",
    [
        ("Yes or No", "exactly one of Yes or No"),
        ("yes/no", "exactly one of Yes or No"),
        ("maybe", "expected Yes or No, got 'maybe'"),
        ("", "expected Yes or No"),
        (1, "expected Yes or No, got '1'"),
        ("I said yes but now no", "exactly one of Yes or No"),
    ],
)
def test_yes_no_rejects_what_cannot_be_decided(raw, error):
    value, why = parse_yes_no(raw)
    assert value is None and error in why


@pytest.mark.parametrize(
    "raw, expected",
    [
        (0, 0),
        (1, 1),
        (1.0, 1),
        ("1", 1),
        ("**0**.", 0),
        ("value: 1", 1),
        ("one", 1),
        ("0 (mine)", 0),
    ],
)
def test_bit_is_read_leniently(raw, expected):
    assert parse_bit(raw) == (expected, "")


@pytest.mark.parametrize(
    "raw, error",
    [
        ("0 or 1", "exactly one of 0 or 1"),
        ("0/1", "exactly one of 0 or 1"),
        ("10", "expected 0 or 1, got '10'"),
        (2, "expected 0 or 1, got 2"),
        (True, "expected 0 or 1, got True"),
        ("blue", "expected 0 or 1"),
    ],
)
def test_bit_rejects_what_cannot_be_decided(raw, error):
    value, why = parse_bit(raw)
    assert value is None and error in why


NEIGHBOURS = ("Jennifer", "David")
AGENTS = ("Michael", "Jennifer", "David", "Jessica")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("David", "David"),
        ("**david**.", "David"),
        ("I pair with Jennifer", "Jennifer"),
        ("Jennifer, since David is taken", "Jennifer"),
        ("None", NO_PARTNER),
        ("none.", NO_PARTNER),
        ("nobody", NO_PARTNER),
        ("No one", NO_PARTNER),
    ],
)
def test_partner_is_read_leniently(raw, expected):
    assert parse_partner(raw, NEIGHBOURS, AGENTS) == (expected, "")


@pytest.mark.parametrize(
    "raw, error",
    [
        ("Jessica", "Jessica is not one of your neighbours; answer one of: Jennifer, David, None"),
        ("David or Jennifer", "name exactly one partner, one of: Jennifer, David, None"),
        ("Bob", "expected one of: Jennifer, David, None; got 'Bob'"),
        (3, "expected the name of one of your neighbours or None (Jennifer, David, None)"),
    ],
)
def test_partner_rejects_strangers_and_ambiguity(raw, error):
    assert parse_partner(raw, NEIGHBOURS, AGENTS) == (None, error)


def test_no_agent_is_named_like_the_no_partner_answer():
    assert NO_PARTNER.lower() not in {name.lower() for name in FIRST_NAMES}
