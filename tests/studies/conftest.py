from __future__ import annotations

import pytest

from tests.runtime.toy_env import register_counter


@pytest.fixture(autouse=True)
def _counter_env() -> None:
    register_counter()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "runs.db"
