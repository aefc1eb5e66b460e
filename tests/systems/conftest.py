"""Shared by the topology tests: a one-question environment and `play`, which runs one
episode with the runtime's real episode loop and recorder and returns its events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from palaestra.core import (
    Action,
    Event,
    Message,
    MessageEvent,
    ModelRequestEvent,
    Observation,
    Operator,
    ToolSpec,
)
from palaestra.envs import Score, Step
from palaestra.runtime import EpisodeLimits, EpisodeSpec, run_episode
from palaestra.runtime._recorder import row_event
from palaestra.systems import fork_member

LOOKUP = ToolSpec(
    name="lookup",
    description="Look a fact up by key.",
    parameters={
        "type": "object",
        "properties": {"key": {"type": "string"}},
        "required": ["key"],
    },
)


class QuestionEnv:
    """One agent, `agent`, is asked `question` and may call `lookup(key)` (reads `facts`;
    the result comes back as a `tool` message at the next step). A text answer ends the
    episode; it succeeds iff the answer equals `answer` (stripped, case-folded)."""

    def __init__(
        self,
        question: str = "What is 6 times 7?",
        answer: str = "42",
        facts: dict[str, str] | None = None,
    ):
        self.question = question
        self.answer = answer
        self.facts = facts or {}
        self.given: str | None = None

    @property
    def agents(self) -> list[str]:
        return ["agent"]

    def tasks(self) -> list[str]:
        return ["q"]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.given = None
        return {"agent": Observation(text=self.question, tools=[LOOKUP])}

    async def step(self, actions: dict[str, Action]) -> Step:
        action = actions["agent"]
        if action.tool_calls:
            results = [
                Message(
                    role="tool",
                    content=self.facts.get(str(call.arguments.get("key")), "unknown key"),
                    tool_call_id=call.id,
                )
                for call in action.tool_calls
            ]
            text = "\n".join(m.content or "" for m in results)
            observation = Observation(text=text, tools=[LOOKUP], messages=results)
            return Step(observations={"agent": observation})
        self.given = action.text or ""
        return Step(observations={}, terminated=True)

    def score(self) -> Score:
        ok = self.given is not None and self.given.strip().casefold() == self.answer.casefold()
        return Score(value=float(ok), success=ok)


@dataclass
class Played:
    """One recorded episode."""

    events: list[Event]
    outcome: Any

    def of(self, kind: str, agent: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == kind and (agent is None or e.agent == agent)]

    def messages(self) -> list[MessageEvent]:
        return [e.payload for e in self.of("message")]  # type: ignore[misc]

    def talk(self) -> list[tuple[str, list[str], int | None]]:
        """(sender, recipients, round) of every message, in log order."""
        return [(m.sender, m.recipients, m.round) for m in self.messages()]

    def requests(self, agent: str) -> list[ModelRequestEvent]:
        return [e.payload for e in self.of("model_request", agent)]  # type: ignore[misc]

    def last_user_text(self, agent: str, index: int = -1) -> str:
        """The last user message of the agent's `index`-th model request."""
        request = self.requests(agent)[index]
        return next(m.content or "" for m in reversed(request.messages) if m.role == "user")

    def actions(self) -> list[Action]:
        return [e.payload.action for e in self.of("action")]  # type: ignore[attr-defined]

    @property
    def end(self) -> Any:
        return self.events[-1].payload

    @property
    def success(self) -> bool:
        return self.outcome.outcome == "success"


PlayFn = Callable[..., Awaitable[Played]]


@pytest.fixture
def play() -> PlayFn:
    """`await play(operator, env=None, *, seed=0, max_steps=5, allow_error=False)`:
    run one episode of `env` (default `QuestionEnv()`) with a fork of `operator`."""

    async def run(
        operator: Operator,
        env: QuestionEnv | None = None,
        *,
        seed: int = 0,
        max_steps: int = 5,
        allow_error: bool = False,
    ) -> Played:
        rows: list[Any] = []
        spec = EpisodeSpec(episode_id=f"ep{seed}", job="t", env_id="question", task="q", seed=seed)
        outcome = await run_episode(
            spec,
            env or QuestionEnv(),
            lambda agent: fork_member(operator),
            run_seed=seed,
            limits=EpisodeLimits(max_steps=max_steps),
            sink=rows.extend,
        )
        played = Played([row_event(row) for row in rows], outcome)
        if not allow_error:
            assert outcome.reason != "error", played.end.traceback
        return played

    return run
