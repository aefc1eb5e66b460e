"""Fixtures of the store tests: stores in a temporary directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from palaestra.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "runs" / "store.db") as opened:
        yield opened


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Open (more) stores under tmp_path; all are closed at the end."""
    opened: list[Store] = []

    def make(
        name: str = "store.db",
        batch_size: int = 2000,
        flush_interval_s: float = 1.0,
        writer_process: bool = True,
    ) -> Store:
        store = Store(
            tmp_path / name,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            writer_process=writer_process,
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
