"""Benchmark of `EpisodeLog` against the per-reader indexing it replaced.

The workload: one large episode recorded into a real `Store` and read back (`--steps`
steps of one agent, each an observation carrying the results of the previous step's
environment tool calls, a model request, a failed attempt and the reply, an action with
two environment tool calls, an operator tool call and its result, an env step; then the
score and the end: `3 + 8 * steps` events, 4,003 at the defaults; the old assurance
index grows with the square of that, so larger episodes take minutes).

For each reader that indexed events its own way before issue 18, step 5, the benchmark
times the questions that reader asks of the episode, two ways:

- **old**: the reader's own index, as the code built it before (copied below from the
  replaced code, unchanged in what it computes): assurance's `Log` (events by seq, the
  end, the env's score, tool outcomes of both channels, where an environment tool result
  found its action by `list.index` and a backward scan), eval's scorer views (start, env
  score, the main agent's tool calls), the OTel tree's providers and parent lookups by
  list position, SFT's request -> response pairing, train's responses and end, eval's
  coordination parent map;
- **new**: the same answers through `EpisodeLog` (each reader building its own log from
  the event list, as each is called separately today), and all readers sharing one log.

Prints the median CPU milliseconds of each over `--repeat` runs (garbage collector
paused while timed) and the ratio old / new.

    .venv/bin/python benchmarks/episode_log.py              # 500 steps
    .venv/bin/python benchmarks/episode_log.py --steps 200 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from palaestra.assurance._log import Log
from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeLog,
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
    ToolCallEvent,
    ToolResultEvent,
    make_event,
)
from palaestra.store import EpisodeRow, EpisodeSummary, Store

EPISODE = "bench/t0/0/0"


def record(path: Path, steps: int) -> list[Event]:
    """The episode, recorded into a store at `path` and read back."""
    rows: list[tuple[int, str, Payload, int | None]] = [
        (0, "env", EpisodeStart(env="bench", task="t0", seed=0, agents=["agent"]), None)
    ]
    seq = 1
    for step in range(steps):
        results = [
            {"id": f"e{step - 1}.{k}", "name": "lookup", "content": f"row {k}"} for k in range(2)
        ]
        observation = Observation(
            text=f"step {step}", data={"tool_results": results} if step else {}
        )
        calls = [ToolCall(id=f"e{step}.{k}", name="lookup", arguments={"k": k}) for k in range(2)]
        own = ToolCall(id=f"o{step}", name="note", arguments={"text": "x"})
        obs, request = seq, seq + 1
        rows += [
            (step, "agent", ObservationEvent(observation=observation), None),
            (
                step,
                "agent",
                ModelRequestEvent(
                    model="openai/bench", messages=[Message(role="user", content=f"step {step}")]
                ),
                obs,
            ),
            (step, "agent", ModelResponseEvent(error="timeout", attempt=1), request),
            (
                step,
                "agent",
                ModelResponseEvent(message=Message(role="assistant", tool_calls=calls)),
                request,
            ),
            (step, "agent", ToolCallEvent(call=own), obs),
            (step, "agent", ToolResultEvent(call_id=own.id, name="note", content="ok"), seq + 4),
            (step, "agent", ActionEvent(action=Action(tool_calls=calls)), obs),
            (step, "env", EnvStep(rewards={"agent": 0.0}), None),
        ]
        seq += 8
    rows += [
        (steps, "env", ScoreEvent(value=1.0, success=True), None),
        (steps, "env", EpisodeEnd(outcome="success", reason="done", steps=steps), None),
    ]
    events = [
        make_event(EPISODE, i, step, agent, payload, parent=parent)
        for i, (step, agent, payload, parent) in enumerate(rows)
    ]
    with Store(path) as store:
        store.create_run("r", experiment={}, seed=0)
        store.start_episode(
            "r", EpisodeRow(episode_id=EPISODE, env="bench", task="t0", seed=0, agents=["agent"])
        )
        store.append("r", events)
        store.finish_episode(
            "r", EpisodeSummary(episode_id=EPISODE, outcome="success", reason="done")
        )
        return store.events("r", EPISODE)


# -- the replaced indexing (what each reader built for itself) ----------------------------


def old_assurance(events: list[Event]) -> Any:
    by_seq = {e.seq: e for e in events}
    end = [e for e in events if isinstance(e.payload, EpisodeEnd)][-1]
    scores = [
        e.payload for e in events if isinstance(e.payload, ScoreEvent) and not e.payload.scorer
    ]
    tools = []
    for event in events:
        p = event.payload
        if isinstance(p, ToolResultEvent):
            call = by_seq.get(event.parent) if event.parent is not None else None
            tools.append((event.seq, call or event, p.name, not p.is_error))
        elif isinstance(p, ObservationEvent):
            results = p.observation.data.get("tool_results")
            if not isinstance(results, list):
                continue
            for r in results:
                found = None
                for before in reversed(events[: events.index(event)]):
                    q = before.payload
                    if (
                        isinstance(q, ActionEvent)
                        and before.agent == event.agent
                        and any(c.id == r["id"] for c in q.action.tool_calls)
                    ):
                        found = before
                        break
                content = r.get("content")
                if content is None:
                    content = json.dumps({k: v for k, v in r.items() if k != "id"})[:300]
                tools.append((event.seq, found or event, r.get("name"), not r.get("error")))
    return end, scores, tools


def old_eval(events: list[Event]) -> Any:
    start = next(e.payload for e in events if isinstance(e.payload, EpisodeStart))
    score = next(e.payload for e in events if isinstance(e.payload, ScoreEvent))
    who = start.agents[0]
    calls: list[ToolCall] = []
    for event in events:
        if event.agent != who and not event.agent.startswith(who + "/"):
            continue
        if isinstance(event.payload, ActionEvent):
            calls.extend(event.payload.action.tool_calls)
        elif isinstance(event.payload, ToolCallEvent):
            calls.append(event.payload.call)
    return start, score, calls


def old_otel(events: list[Event]) -> Any:
    providers: dict[str, str] = {}
    for event in events:
        if event.kind == "model_request":
            providers.setdefault(event.agent, event.payload.model.split("/")[0])  # type: ignore[attr-defined]
    parents = [events[e.parent] for e in events if e.parent is not None]
    return providers, parents


def old_sft(events: list[Event]) -> Any:
    requests: dict[int, Any] = {}
    pairs = []
    for event in events:
        if event.agent != "agent":
            continue
        if event.kind == "model_request":
            requests[event.seq] = event.payload
        elif event.kind == "model_response" and event.parent in requests:
            if event.payload.message is not None:  # type: ignore[attr-defined]
                pairs.append((requests[event.parent], event.payload))
    return pairs


def old_train(events: list[Event]) -> Any:
    end = [e for e in events if isinstance(e.payload, EpisodeEnd)][-1]
    responses: dict[int, Event] = {}
    for e in events:
        p = e.payload
        if isinstance(p, ModelResponseEvent) and p.error is None and e.parent is not None:
            responses[e.parent] = e
    turns = [
        (e, responses[e.seq]) for e in events if e.kind == "model_request" and e.seq in responses
    ]
    return end, turns


def old_coordination(events: list[Event]) -> Any:
    by_seq = {e.seq: e for e in events}
    return [by_seq[e.parent] for e in events if e.parent is not None]


# -- the same questions through EpisodeLog -------------------------------------------------


def new_assurance(log: EpisodeLog) -> Any:
    found = log if isinstance(log, Log) else Log(log.events)
    return found.end, found.env_score, found.tools


def new_eval(log: EpisodeLog) -> Any:
    return log.start, log.env_score, log.tool_calls()


def new_otel(log: EpisodeLog) -> Any:
    providers: dict[str, str] = {}
    for event in log.of_kind("model_request"):
        providers.setdefault(event.agent, event.payload.model.split("/")[0])  # type: ignore[attr-defined]
    return providers, [log.by_seq[e.parent] for e in log.events if e.parent is not None]


def new_sft(log: EpisodeLog) -> Any:
    pairs = []
    for event in log.of_agent("agent"):
        if event.kind == "model_response" and event.payload.message is not None:  # type: ignore[attr-defined]
            request = log.request_of(event)
            if request is not None:
                pairs.append((request.payload, event.payload))
    return pairs


def new_train(log: EpisodeLog) -> Any:
    turns = []
    for request in log.of_kind("model_request"):
        ok = [r for r in log.responses_of(request) if r.payload.error is None]  # type: ignore[attr-defined]
        if ok:
            turns.append((request, ok[-1]))
    return log.end, turns


def new_coordination(log: EpisodeLog) -> Any:
    return [p for e in log.events if (p := log.parent(e)) is not None]


READERS: list[tuple[str, Callable[[list[Event]], Any], Callable[[EpisodeLog], Any]]] = [
    ("assurance (Log)", old_assurance, new_assurance),
    ("eval (scorer views)", old_eval, new_eval),
    ("store (OTel tree)", old_otel, new_otel),
    ("store (SFT pairs)", old_sft, new_sft),
    ("train (trajectories)", old_train, new_train),
    ("eval (coordination)", old_coordination, new_coordination),
]


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Median CPU milliseconds of this process for `fn()` (CPU time, not wall time: the
    machine may be shared), the garbage collector paused while timed (its pauses land on
    whichever reader happens to allocate when one is due)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        finally:
            gc.enable()
    return statistics.median(times) * 1000


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        events = record(Path(tmp) / "bench.db", args.steps)
    print(f"episode: {len(events):,} events ({args.steps} steps), medians of {args.repeat} runs")
    print(f"{'reader':<24}{'old ms':>10}{'new ms':>10}{'old/new':>9}")
    old_total = new_total = 0.0
    for name, old, new in READERS:
        old_ms = median_ms(lambda old=old: old(events), args.repeat)  # type: ignore[misc]
        new_ms = median_ms(lambda new=new: new(EpisodeLog(events)), args.repeat)  # type: ignore[misc]
        old_total += old_ms
        new_total += new_ms
        print(f"{name:<24}{old_ms:>10.1f}{new_ms:>10.1f}{old_ms / new_ms:>9.1f}")
    print(
        f"{'all, a log each':<24}{old_total:>10.1f}{new_total:>10.1f}{old_total / new_total:>9.1f}"
    )

    def shared() -> None:
        log = Log(events)  # a finished episode's EpisodeLog, read by every reader
        for _name, _old, new in READERS:
            new(log)

    shared_ms = median_ms(shared, args.repeat)
    ratio = old_total / shared_ms
    print(f"{'all, one shared log':<24}{old_total:>10.1f}{shared_ms:>10.1f}{ratio:>9.1f}")
    build_ms = median_ms(lambda: EpisodeLog(events), args.repeat)
    print(f"EpisodeLog construction alone (no index built): {build_ms:.2f} ms")


if __name__ == "__main__":
    main()
