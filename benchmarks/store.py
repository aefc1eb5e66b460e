"""Benchmark of the event store: write and read throughput against raw sqlite3.

Writes N events (default 200,000) of a realistic mix (observation, model_request with a
few messages and a tool, model_response with usage, action, env_step) across many
episodes, several running at once with their events interleaved the way the runner
produces them, through `Store` (start_episode, one `append` call per event,
finish_episode), then reads them all back with `Store.iter_events` (parsing and
validating every event). The JSON serialisation is inside the timed write, as it is part
of writing.

The baseline, in the same process and on the same disk, is raw sqlite3: the same table
and pragmas, `executemany` of the same events' JSON *pre-serialised* outside the timing,
in batches of the same size, one transaction each; and for reading, a plain
`SELECT json` without parsing.

    .venv/bin/python benchmarks/store.py                  # 200k events
    .venv/bin/python benchmarks/store.py --events 50000 --concurrent 16
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    Event,
    Message,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    Payload,
    ToolCall,
    ToolSpec,
    Usage,
    make_event,
)
from palaestra.store import EpisodeRow, EpisodeSummary, Store

TOOL = ToolSpec(
    name="set_color",
    description="Choose your colour for this round.",
    parameters={"type": "object", "properties": {"color": {"type": "integer"}}},
)
SYSTEM = Message(
    role="system", content="You are node {a} of a graph. Pick a colour unlike your neighbours'."
)


def _step_payloads(episode: int, step: int) -> list[tuple[str, Payload]]:
    """The five events of one agent's turn at one step, with varying content."""
    agent = f"n{step % 4}"
    text = (
        f"Round {step}: neighbours n{(step + 1) % 4} and n{(step + 2) % 4} chose 1 and {step % 3}."
    )
    call = ToolCall(id=f"call_{episode}_{step}", name="set_color", arguments={"color": step % 3})
    return [
        (
            agent,
            ObservationEvent(
                observation=Observation(
                    text=text, data={"round": step, "inbox": [1, step % 3]}, tools=[TOOL]
                )
            ),
        ),
        (
            agent,
            ModelRequestEvent(
                model="openai:gpt-4o-mini",
                messages=[
                    SYSTEM,
                    Message(role="user", content=text),
                    Message(role="assistant", content=None, tool_calls=[call]),
                    Message(role="tool", content="ok", tool_call_id=call.id),
                    Message(role="user", content=text),
                ],
                tools=[TOOL],
                params={"temperature": 0.7, "max_tokens": 256, "seed": episode},
            ),
        ),
        (
            agent,
            ModelResponseEvent(
                message=Message(role="assistant", content=None, tool_calls=[call]),
                usage=Usage(input_tokens=180 + step, output_tokens=12, cost_usd=0.00003),
                finish_reason="tool_calls",
                model="gpt-4o-mini-2024-07-18",
            ),
        ),
        (agent, ActionEvent(action=Action(tool_calls=[call], data={"color": step % 3}))),
        ("env", EnvStep(rewards={agent: 1.0 if step % 3 else 0.0}, info={"conflicts": step % 2})),
    ]


def build_episodes(n_events: int, per_episode: int) -> list[list[Event]]:
    """Episodes of `per_episode` events each (the last may be shorter), `n_events` in all."""
    episodes: list[list[Event]] = []
    remaining = n_events
    while remaining > 0:
        index = len(episodes)
        episode_id = f"graph.coloring/t{index % 10}/s{index}/e0"
        events: list[Event] = []
        step = 0
        while len(events) < min(per_episode, remaining):
            for agent, payload in _step_payloads(index, step):
                if len(events) < min(per_episode, remaining):
                    events.append(
                        make_event(
                            episode_id, len(events), step, agent, payload, time=1.7e9 + len(events)
                        )
                    )
            step += 1
        episodes.append(events)
        remaining -= len(events)
    return episodes


def interleaved(episodes: list[list[Event]], concurrent: int):
    """(kind, episode index, event) in runner order: `concurrent` episodes at a time."""
    for start in range(0, len(episodes), concurrent):
        group = range(start, min(start + concurrent, len(episodes)))
        for i in group:
            yield "start", i, None
        for position in range(max(len(episodes[i]) for i in group)):
            for i in group:
                if position < len(episodes[i]):
                    yield "event", i, episodes[i][position]
        for i in group:
            yield "finish", i, None


def write_store(path: Path, episodes: list[list[Event]], concurrent: int, batch: int) -> float:
    """Seconds to write every episode through `Store` (serialisation included)."""
    plan = list(interleaved(episodes, concurrent))
    started = time.perf_counter()
    with Store(path, batch_size=batch) as store:
        store.create_run("bench", experiment={"bench": "store"}, seed=0)
        for what, i, event in plan:
            episode_id = episodes[i][0].episode_id
            if what == "start":
                store.start_episode(
                    "bench",
                    EpisodeRow(
                        episode_id=episode_id,
                        env="graph.coloring",
                        task=f"t{i % 10}",
                        seed=i,
                        agents=["n0", "n1", "n2", "n3"],
                    ),
                )
            elif what == "event":
                store.append("bench", [event])  # type: ignore[list-item]
            else:
                summary = EpisodeSummary(
                    episode_id=episode_id,
                    outcome="success",
                    reason="done",
                    score=1.0,
                    success=True,
                    steps=len(episodes[i]) // 5,
                    n_events=len(episodes[i]),
                )
                store.finish_episode("bench", summary)
    return time.perf_counter() - started


RAW_TABLE = """
CREATE TABLE events (
    run_id TEXT NOT NULL, episode_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    agent TEXT NOT NULL, step INTEGER NOT NULL, json TEXT NOT NULL,
    PRIMARY KEY (run_id, episode_id, seq)
)
"""


def write_raw(path: Path, episodes: list[list[Event]], concurrent: int, batch: int) -> float:
    """Seconds for raw sqlite3 executemany of the same, pre-serialised, events."""
    rows = [
        ("bench", e.episode_id, e.seq, e.kind, e.agent, e.step, e.to_json())
        for what, _, e in interleaved(episodes, concurrent)
        if what == "event" and e is not None
    ]
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(RAW_TABLE)
    for start in range(0, len(rows), batch):
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows[start : start + batch]
        )
        db.execute("COMMIT")
    db.close()
    return time.perf_counter() - started


def read_store(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with Store(path) as store:
        count = sum(1 for _ in store.iter_events("bench"))
    return time.perf_counter() - started, count


def read_raw(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    db = sqlite3.connect(path)
    count = sum(1 for _ in db.execute("SELECT json FROM events ORDER BY run_id, episode_id, seq"))
    db.close()
    return time.perf_counter() - started, count


def flush_latency(path: Path, events: list[Event], n: int = 2000, repeats: int = 5) -> list[float]:
    """Milliseconds for `flush()` of `n` buffered events (the longest single store call)."""
    times = []
    with Store(path, batch_size=10**9) as store:
        store.create_run("latency", experiment={}, seed=0)
        episode_id = events[0].episode_id
        store.start_episode(
            "latency", EpisodeRow(episode_id=episode_id, env="graph.coloring", task="t", seed=0)
        )
        for r in range(repeats):
            chunk = [
                e.model_copy(update={"seq": r * n + k})
                for k, e in enumerate((events * (n // len(events) + 1))[:n])
            ]
            store.append("latency", chunk)
            started = time.perf_counter()
            store.flush()
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to write")
    parser.add_argument("--per-episode", type=int, default=200, help="events per episode")
    parser.add_argument("--concurrent", type=int, default=8, help="episodes interleaved")
    parser.add_argument("--batch", type=int, default=2000, help="Store batch_size")
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (a temp dir)")
    args = parser.parse_args()

    episodes = build_episodes(args.events, args.per_episode)
    n = sum(len(e) for e in episodes)
    sizes = [len(e.to_json()) for e in episodes[0]]
    print(
        f"{n:,} events in {len(episodes):,} episodes ({args.concurrent} at a time), "
        f"mean JSON {statistics.mean(sizes):.0f} bytes, batch {args.batch}"
    )

    timings: dict[str, list[float]] = {"raw_write": [], "write": [], "raw_read": [], "read": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for r in range(args.repeat):  # interleaved, so that machine load hits both alike
            raw_db, store_db = Path(tmp) / f"raw{r}.db", Path(tmp) / f"store{r}.db"
            timings["raw_write"].append(write_raw(raw_db, episodes, args.concurrent, args.batch))
            timings["write"].append(write_store(store_db, episodes, args.concurrent, args.batch))
            raw_read, raw_count = read_raw(raw_db)
            store_read, store_count = read_store(store_db)
            assert raw_count == store_count == n, (raw_count, store_count, n)
            timings["raw_read"].append(raw_read)
            timings["read"].append(store_read)
            raw_db.unlink()
            store_db.unlink()
        flushes = flush_latency(Path(tmp) / "latency.db", episodes[0])

    def line(what: str) -> str:
        seconds = statistics.median(timings[what])
        baseline = statistics.median(timings["raw_" + what])
        return (
            f"{what}: {n / seconds:,.0f} events/s ({baseline / seconds:.2f} of raw sqlite "
            f"at {n / baseline:,.0f}/s)"
        )

    for what in ("write", "read"):
        rates = ", ".join(f"{n / t:,.0f}" for t in timings[what])
        raw_rates = ", ".join(f"{n / t:,.0f}" for t in timings["raw_" + what])
        print(f"  {what} runs (events/s): store {rates}; raw {raw_rates}")
    print(f"median of {args.repeat} runs")
    print(line("write"))
    print(line("read"))
    print(
        f"flush of 2000 buffered events: median {statistics.median(flushes):.1f} ms, "
        f"max {max(flushes):.1f} ms"
    )


if __name__ == "__main__":
    main()
