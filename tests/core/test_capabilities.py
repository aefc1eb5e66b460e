"""Optional capabilities: found by protocol (a method present, not set to None), used
through one helper each."""

from __future__ import annotations

import pytest

from palaestra.core import (
    SupportsAclose,
    SupportsClose,
    SupportsDescribe,
    SupportsFork,
    described,
    forked,
    release,
)


class Plain:
    async def act(self, observation, ctx):  # pragma: no cover - never called
        raise AssertionError


class Stateful(Plain):
    def __init__(self) -> None:
        self.turns: list[str] = []

    def fork(self) -> Stateful:
        return Stateful()

    def describe(self) -> str:
        return "stateful:v1"


class OptedOut(Stateful):
    fork = None  # type: ignore[assignment]
    describe = None  # type: ignore[assignment]


def test_fork_and_describe_where_offered():
    stateful = Stateful()
    assert isinstance(stateful, SupportsFork) and isinstance(stateful, SupportsDescribe)
    copy = forked(stateful)
    assert isinstance(copy, Stateful) and copy is not stateful
    assert described(stateful) == "stateful:v1"
    plain = Plain()
    assert forked(plain) is plain and described(plain) == "Plain"


def test_a_method_set_to_none_is_not_offered():
    opted = OptedOut()
    assert not isinstance(opted, SupportsFork)
    assert forked(opted) is opted and described(opted) == "OptedOut"


class AsyncClosing:
    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1

    def close(self) -> None:  # not called: aclose wins
        raise AssertionError("close() called although aclose() exists")


class SyncClosing:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class AwaitableClose:
    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1


async def test_release_prefers_aclose_then_close_and_awaits_what_close_returns():
    a, s, w = AsyncClosing(), SyncClosing(), AwaitableClose()
    assert isinstance(a, SupportsAclose) and isinstance(s, SupportsClose)
    assert await release(a) and a.closed == 1
    assert await release(s) and s.closed == 1
    assert await release(w) and w.closed == 1
    assert not await release(Plain())


async def test_release_lets_the_error_through():
    class Broken:
        async def aclose(self) -> None:
            raise RuntimeError("socket gone")

    with pytest.raises(RuntimeError, match="socket gone"):
        await release(Broken())
