"""Builders for the store tests: realistic episodes of events (imported by the tests)."""

from __future__ import annotations

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    Message,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    Payload,
    ScoreEvent,
    ToolCall,
    ToolSpec,
    Usage,
    make_event,
)
from palaestra.store import EpisodeRow, EpisodeSummary, Store

TOOL = ToolSpec(name="set_color", parameters={"type": "object", "properties": {"c": {}}})


def episode_events(episode_id: str, steps: int = 3, agent: str = "n0") -> list[Event]:
    """A realistic episode: start, per step observation/request/response/action/env_step,
    then score and end. `3 + 5 * steps` events."""
    payloads: list[tuple[int, str, Payload]] = [
        (0, "env", EpisodeStart(env="graph.coloring", task="t0", seed=7, agents=[agent]))
    ]
    for step in range(steps):
        call = ToolCall(id=f"c{step}", name="set_color", arguments={"c": step})
        payloads += [
            (
                step,
                agent,
                ObservationEvent(observation=Observation(text=f"round {step}", tools=[TOOL])),
            ),
            (
                step,
                agent,
                ModelRequestEvent(
                    model="scripted",
                    messages=[
                        Message(role="system", content="colour"),
                        Message(role="user", content="é ✓"),
                    ],
                    tools=[TOOL],
                    params={"temperature": 0.5},
                ),
            ),
            (
                step,
                agent,
                ModelResponseEvent(
                    message=Message(role="assistant", tool_calls=[call]),
                    usage=Usage(input_tokens=10, output_tokens=step),
                ),
            ),
            (step, agent, ActionEvent(action=Action(tool_calls=[call]))),
            (step, "env", EnvStep(rewards={agent: 0.5}, terminated=step == steps - 1)),
        ]
    payloads += [
        (steps, "env", ScoreEvent(value=1.0, success=True)),
        (steps, "env", EpisodeEnd(outcome="success", reason="done", steps=steps, total_reward=1.5)),
    ]
    return [
        make_event(episode_id, seq, step, who, payload, time=1.7e9 + seq)
        for seq, (step, who, payload) in enumerate(payloads)
    ]


def episode_row(episode_id: str, env: str = "graph.coloring", seed: int = 0) -> EpisodeRow:
    return EpisodeRow(episode_id=episode_id, env=env, task="t0", seed=seed, agents=["n0"])


def summary_for(events: list[Event], **fields: object) -> EpisodeSummary:
    data: dict[str, object] = {
        "episode_id": events[0].episode_id,
        "outcome": "success",
        "reason": "done",
        "score": 1.0,
        "success": True,
        "total_reward": 1.5,
        "steps": 3,
        "n_events": len(events),
        "input_tokens": 30,
        "output_tokens": 3,
        "wall_s": 0.5,
        "hash": "abc",
    }
    data.update(fields)
    return EpisodeSummary.model_validate(data)


def write_episode(store: Store, run_id: str, events: list[Event], **summary: object) -> None:
    """Start, append and finish one episode."""
    store.start_episode(run_id, episode_row(events[0].episode_id))
    store.append(run_id, events)
    store.finish_episode(run_id, summary_for(events, **summary))
