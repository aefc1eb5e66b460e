"""The environment's episode-end hook (`end_episode`): called once for every episode
that started, whatever ended it, after the last step and before `score()`; what it
queues is recorded; its failures end the episode as an error without losing events;
its time is bounded, after a wall-time cut too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from palaestra.assurance import step_contract
from palaestra.core import (
    Action,
    Context,
    Event,
    FileEntry,
    Message,
    ModelError,
    Observation,
    Payload,
    WorkspaceManifest,
)
from palaestra.envs import Score, Step
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import FunctionOperator, LLMOperator
from palaestra.runtime import EpisodeLimits, EpisodeSpec, run_episode
from palaestra.runtime._recorder import row_event

MANIFEST = WorkspaceManifest(
    files=[FileEntry(path="out.txt", kind="file", size=2, sha256="ab" * 32)],
    total_files=1,
    total_bytes=2,
)


class EndingEnv:
    """One agent `a`; ``DONE`` terminates, ``CUT`` truncates, ``RAISE`` makes the step
    raise, anything else goes on. `end_episode` queues `MANIFEST` (once), then behaves
    as `end` says: ``ok``, ``raise``, ``hang``; ``sync`` makes it a plain function."""

    def __init__(self, end: str = "ok", *, ends_itself: bool = False) -> None:
        self.end = end
        self.ends_itself = ends_itself
        self.calls: list[str] = []
        self._events: list[Payload] = []
        self._ended = False
        if end == "sync":
            self.end_episode = self._end_sync  # type: ignore[method-assign]

    @property
    def agents(self) -> list[str]:
        return ["a"]

    def tasks(self) -> list[str]:
        return ["t"]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.calls.append("reset")
        self._ended = False
        return {"a": Observation(text="go", messages=[Message(role="user", content="go")])}

    async def step(self, actions: dict[str, Action]) -> Step:
        self.calls.append("step")
        text = actions["a"].text or ""
        if text == "RAISE":
            raise ValueError("the step exploded")
        done, cut = text == "DONE", text == "CUT"
        if (done or cut) and self.ends_itself:
            await self.end_episode()
        observations = {} if done or cut else {"a": Observation(text="more")}
        return Step(observations, {"a": 0.5}, terminated=done, truncated=cut)

    def _queue(self) -> None:
        self.calls.append("end_episode")
        if not self._ended:
            self._ended = True
            self._events.append(MANIFEST)

    async def end_episode(self) -> None:
        self._queue()
        if self.end == "raise":
            raise OSError("teardown failed")
        if self.end == "hang":
            await asyncio.sleep(3600)

    def _end_sync(self) -> None:
        self._queue()

    def drain_events(self) -> list[Payload]:
        events, self._events = self._events, []
        return events

    def score(self) -> Score:
        self.calls.append("score")
        return Score(1.0, True)


def _spec() -> EpisodeSpec:
    return EpisodeSpec(episode_id="j/t/0", job="j", env_id="test.ending", task="t", seed=0)


async def _run(
    env: EndingEnv, operator: Any, limits: EpisodeLimits | None = None, **kwargs: Any
) -> tuple[Any, list[Event]]:
    limits = limits or EpisodeLimits()
    events: list[Event] = []
    outcome = await run_episode(
        _spec(),
        env,  # type: ignore[arg-type]
        lambda agent: operator,
        limits=limits,
        sink=lambda rows: events.extend(row_event(row) for row in rows),
        **kwargs,
    )
    return outcome, events


def _says(*texts: str) -> FunctionOperator:
    """An operator that says `texts` in turn (the last one from then on)."""
    said: list[str] = []

    def act(observation: Observation, ctx: Context) -> str:
        said.append(texts[min(len(said), len(texts) - 1)])
        return said[-1]

    return FunctionOperator(act)


def _check_end(env: EndingEnv, events: list[Event]) -> Event:
    """The hook ran once, after the last step and before score; its event is recorded
    once, before the score event, at the episode's last step. Returns that event."""
    assert env.calls.count("end_episode") == 1 or env.ends_itself
    assert env.calls.index("end_episode") > max(
        (i for i, c in enumerate(env.calls) if c == "step"), default=0
    )
    assert env.calls[-1] == "score" and "end_episode" in env.calls[:-1]
    (manifest,) = [e for e in events if e.kind == "workspace"]
    assert manifest.payload == MANIFEST and manifest.agent == "env"
    kinds = [e.kind for e in events]
    assert kinds[-2:] == ["score", "episode_end"] and kinds.index("workspace") < len(kinds) - 2
    if manifest.parent is None:  # recorded by the runtime's call: at the end's step
        assert manifest.step == events[-1].step
    return manifest


async def test_the_hook_ends_every_kind_of_episode_end_once_before_score() -> None:
    ended_by_env, events = await _run(env := EndingEnv(), _says("x", "DONE"))
    assert (ended_by_env.reason, ended_by_env.outcome) == ("done", "success")
    _check_end(env, events)

    truncated, events = await _run(env := EndingEnv(), _says("CUT"))
    assert truncated.reason == "truncated"
    _check_end(env, events)

    steps, events = await _run(env := EndingEnv(), _says("x"), EpisodeLimits(max_steps=3))
    assert (steps.reason, steps.steps) == ("max_steps", 3)
    assert _check_end(env, events).parent is None

    step_error, events = await _run(env := EndingEnv(), _says("x", "RAISE"))
    assert step_error.reason == "error" and "the step exploded" in (step_error.error or "")
    _check_end(env, events)

    def explode(observation: Observation, ctx: Context) -> str:
        raise RuntimeError("operator bug")

    operator_error, events = await _run(env := EndingEnv(), FunctionOperator(explode))
    assert operator_error.reason == "error" and "operator bug" in (operator_error.error or "")
    _check_end(env, events)


async def test_the_runtime_ends_it_on_budgets_model_errors_and_contracts() -> None:
    words = ScriptedModel(fn=lambda request: "one two three four five six seven eight")
    budget, events = await _run(
        env := EndingEnv(), LLMOperator(words), EpisodeLimits(max_tokens=30)
    )
    assert budget.reason == "budget" and "token budget" in (budget.error or "")
    _check_end(env, events)

    async def slow(observation: Observation, ctx: Context) -> str:
        await asyncio.sleep(3600)
        return "never"

    wall, events = await _run(
        env := EndingEnv(), FunctionOperator(slow), EpisodeLimits(max_wall_s=0.2)
    )
    assert wall.reason == "budget" and "wall-time budget" in (wall.error or "")
    _check_end(env, events)  # the hook ran after the cut

    def fail(request: ModelRequest) -> Message:
        raise ModelError("the provider is gone")

    model_error, events = await _run(env := EndingEnv(), LLMOperator(ScriptedModel(fn=fail)))
    assert model_error.reason == "error" and "the provider is gone" in (model_error.error or "")
    _check_end(env, events)

    @step_contract(kinds=["action"], on_violation="end")
    def no_x(event: Event) -> bool:
        return event.payload.action.text != "x"  # type: ignore[attr-defined]

    contract, events = await _run(env := EndingEnv(), _says("x"), contracts=[no_x])
    assert contract.reason == "contract"
    _check_end(env, events)


async def test_an_environment_that_ends_itself_records_once_after_its_last_step() -> None:
    outcome, events = await _run(env := EndingEnv(ends_itself=True), _says("x", "DONE"))
    assert outcome.reason == "done" and env.calls.count("end_episode") == 2
    manifest = _check_end(env, events)
    last_step = [e for e in events if e.kind == "env_step"][-1]
    assert manifest.parent == last_step.seq == manifest.seq - 1  # drained with its step
    assert manifest.step == last_step.step


@pytest.mark.parametrize("reason", ["done", "max_steps"])
async def test_a_failing_hook_is_an_error_and_keeps_what_it_queued(reason: str) -> None:
    limits = EpisodeLimits(max_steps=1 if reason == "max_steps" else 5)
    outcome, events = await _run(env := EndingEnv("raise"), _says("DONE"), limits)
    assert (outcome.reason, outcome.outcome) == ("error", "error")
    assert outcome.error == "end_episode() failed: OSError: teardown failed"
    assert "OSError: teardown failed" in (events[-1].payload.traceback or "")  # type: ignore[attr-defined]
    _check_end(env, events)


async def test_a_failing_hook_does_not_replace_the_error_that_ended_the_episode() -> None:
    outcome, events = await _run(env := EndingEnv("raise"), _says("RAISE"))
    assert outcome.reason == "error" and "the step exploded" in (outcome.error or "")
    _check_end(env, events)


async def test_a_hook_that_hangs_is_cut_at_its_own_bound_after_a_wall_time_cut() -> None:
    limits = EpisodeLimits(max_wall_s=0.2, end_episode_s=0.2)

    async def slow(observation: Observation, ctx: Context) -> str:
        await asyncio.sleep(3600)
        return "never"

    outcome, events = await _run(env := EndingEnv("hang"), FunctionOperator(slow), limits)
    assert (outcome.reason, outcome.error) == ("error", "end_episode() did not return within 0.2 s")
    _check_end(env, events)


async def test_a_plain_function_hook_and_no_hook_at_all() -> None:
    outcome, events = await _run(env := EndingEnv("sync"), _says("DONE"))
    assert outcome.reason == "done"
    _check_end(env, events)

    class Bare(EndingEnv):
        end_episode = None  # type: ignore[assignment]

    outcome, events = await _run(Bare(), _says("DONE"))
    assert outcome.reason == "done" and not [e for e in events if e.kind == "workspace"]


async def test_an_episode_whose_reset_failed_is_not_ended() -> None:
    class NoReset(EndingEnv):
        async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
            raise RuntimeError("reset exploded")

    outcome, events = await _run(env := NoReset(), _says("DONE"))
    assert outcome.reason == "error" and "end_episode" not in env.calls
    assert [e.kind for e in events] == ["episode_start", "episode_end"]
