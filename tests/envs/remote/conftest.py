"""Fixtures of the environment-server tests: real servers on 127.0.0.1 (uvicorn in a
thread) and a small registered toy environment whose step can be made to raise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict, Field

from palaestra.core import Action, Observation
from palaestra.envs import EnvSpec, Score, Step, register
from palaestra.envs import _registry as registry
from palaestra.envs.remote import EnvServer

TOY_ID = "test.remote_toy"


class ToyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal: int = Field(default=3, ge=1, description="steps until the episode ends")


class Toy:
    """One agent `a` counts to `goal`: each step adds the number in its action text (or
    1); text ``boom`` raises. Score: 1 when the count is exactly `goal`."""

    def __init__(self, params: ToyParams | None = None):
        self.params = params or ToyParams()
        self.count = 0
        self.steps = 0
        self.seed = 0

    @property
    def agents(self) -> list[str]:
        return ["a"]

    def tasks(self) -> list[str]:
        return [f"goal-{self.params.goal}", "other"]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.count, self.steps, self.seed = 0, 0, seed
        return {"a": Observation(text=f"seed {seed} task {task} count 0", data={"count": 0})}

    async def step(self, actions: dict[str, Action]) -> Step:
        text = actions["a"].text or ""
        if text == "boom":
            raise ValueError("the toy exploded")
        self.count += int(text) if text.isdigit() else 1
        self.steps += 1
        done = self.steps >= self.params.goal
        obs = {} if done else {"a": Observation(text=f"count {self.count}")}
        return Step(observations=obs, rewards={"a": 0.5}, terminated=done, info={"n": self.steps})

    def score(self) -> Score:
        hit = self.count == self.params.goal
        return Score(value=float(hit), success=hit, metrics={"count": float(self.count)})


@pytest.fixture
def toy_id() -> Iterator[str]:
    """`test.remote_toy`, registered for the test only."""
    register(EnvSpec(id=TOY_ID, factory=Toy, params=ToyParams), replace=True)
    try:
        yield TOY_ID
    finally:
        registry._REGISTRY.pop(TOY_ID, None)


@pytest.fixture
def toy_server(toy_id: str) -> Iterator[EnvServer]:
    with EnvServer(toy_id, max_instances=3) as server:
        yield server


@pytest.fixture(scope="module")
def coloring_server() -> Iterator[EnvServer]:
    with EnvServer("graph.coloring", {"n": 6}) as server:
        yield server
