"""Benchmark of the runtime's own cost per model call, against a bare asyncio loop.

The workload: N episodes of the `bench.fanout` environment, M agents that all act at each
of K steps, so N*M*K model calls (80,000 at the defaults), with a model that costs
nothing (a function returning a fixed short reply), `--concurrency` episodes at once.

- **bare asyncio**: the same workload without palaestra: for each episode, the real
  `bench.fanout` environment (reset, then per step `asyncio.gather` over the M agents of
  an async function that builds the two chat messages from the agent's observation,
  calls the reply function and returns an `Action`, then `env.step`) until it
  terminates; episodes run concurrently under a semaphore of the same size. No
  recording; Python's default garbage-collector settings, as a hand-written loop has.
  Two variants are printed beside it for scale: the same loop under the collector
  settings `palaestra.run` uses, and the loop and model alone with no environment.
- **hand-written recorder**: the least a recording runtime can do for the same log: the
  bare loop's structure over the real `bench.fanout` environment, its observations and
  the chat messages as palaestra's types, every event palaestra records (episode start,
  per call observation / model request / model response / action, an env step per
  step, score, episode end) as one JSON line of the same shape, feeding a SHA-256
  digest, appended to a real `Store` per step. No operators, contexts, parent mapping,
  limits or checks: what is left of palaestra's cost over this line is its runtime's
  generality, the rest is the recording itself.
- **palaestra**: `palaestra.run` of the same workload with the LLM operator and a
  `ScriptedModel(fn=reply)`, recording every event into a real SQLite store in a
  temporary directory; once with `keep_history=False` (each request holds the system
  prompt and the current observation, as in the bare loop) and once with the default
  history (the conversation grows over the K steps, and every request is recorded whole).

Prints microseconds per model call of each, the ratios to bare, the events recorded
per model call and the store size per episode. Runs are interleaved and repeated
(`--repeat`); medians are reported. `--profile EPISODES` instead runs palaestra once under
cProfile and prints the top functions.

    .venv/bin/python benchmarks/overhead.py                       # 1000 x 8 x 10
    .venv/bin/python benchmarks/overhead.py --episodes 200 --agents 4 --steps 5
    .venv/bin/python benchmarks/overhead.py --profile 100
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import io
import pstats
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NamedTuple

from _common import ENV_ID, FanOutEnv, FanOutParams, register_fanout
from pydantic_core import to_json

import palaestra
from palaestra.core import Action, Message, Observation, Usage
from palaestra.models import ScriptedModel
from palaestra.runtime import Concurrency, Experiment, Job, Limits, LLMOperatorConfig, run_collector
from palaestra.store import EpisodeRow, EpisodeSummary, Store

REPLY = "ok"
SYSTEM = "You are an agent acting in an interactive environment."


class GCClock:
    """Total time spent in the cyclic garbage collector while active (`gc.callbacks`)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> GCClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)


class Counter:
    """The zero-latency model: a function returning a fixed reply, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: Any) -> str:
        self.calls += 1
        return REPLY


# -- (a) bare asyncio --------------------------------------------------------------------


async def _bare(episodes: int, agents: int, steps: int, concurrency: int, model: Counter) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def turn(observation: Observation) -> Action:
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": observation.text},
        ]
        return Action(text=model(messages))

    async def episode(index: int) -> None:
        async with semaphore:
            env = FanOutEnv(FanOutParams(agents=agents, steps=steps))
            observations = await env.reset(index)
            names = env.agents
            while True:
                actions = await asyncio.gather(*(turn(observations[a]) for a in names))
                result = await env.step(dict(zip(names, actions, strict=True)))
                if result.terminated or result.truncated:
                    break
                observations = result.observations
            if not env.score().success:
                raise SystemExit(f"bare asyncio: episode {index} did not succeed")

    await asyncio.gather(*(episode(i) for i in range(episodes)))


async def _bare_no_env(
    episodes: int, agents: int, steps: int, concurrency: int, model: Counter
) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def turn(step: int) -> str:
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Step {step}. Reply with one word."},
        ]
        return model(messages)

    async def episode() -> None:
        async with semaphore:
            for step in range(steps):
                await asyncio.gather(*(turn(step) for _ in range(agents)))

    await asyncio.gather(*(episode() for _ in range(episodes)))


def run_bare(
    episodes: int,
    agents: int,
    steps: int,
    concurrency: int,
    *,
    env: bool = True,
    tuned_gc: bool = False,
) -> tuple[float, int, float]:
    """(seconds, model calls, seconds in GC) of the bare asyncio loop: with the
    environment or without (`env`), under default or the runner's GC settings."""
    model = Counter()
    loop = _bare if env else _bare_no_env
    with GCClock() as gc_clock, run_collector() if tuned_gc else nullcontext():
        started = time.perf_counter()
        asyncio.run(loop(episodes, agents, steps, concurrency, model))
        seconds = time.perf_counter() - started
    return seconds, model.calls, gc_clock.seconds


# -- (b) hand-written recorder ------------------------------------------------------------

_to_json = Observation.__pydantic_serializer__.to_json
_message_json = Message.__pydantic_serializer__.to_json
_action_json = Action.__pydantic_serializer__.to_json
_usage_json = Usage.__pydantic_serializer__.to_json


def _wrap(name: str, value: bytes) -> str:
    return f'{{"{name}":{value.decode()}}}'


def _env_step(result: Any) -> str:
    return to_json(
        {
            "rewards": result.rewards,
            "terminated": result.terminated,
            "truncated": result.truncated,
            "info": result.info,
        }
    ).decode()


class _Log:
    """One episode's events as JSON lines of the recorder's shape, with their digest."""

    def __init__(self, episode_id: str) -> None:
        self.episode_id = episode_id
        self._id_json = to_json(episode_id).decode()
        self.digest = hashlib.sha256()
        self.count = 0
        self.rows: list[tuple[str, int, str, str, int, str]] = []

    def add(self, step: int, agent: str, kind: str, parent: int | None, payload: str) -> int:
        seq = self.count
        head = (
            f'{{"episode_id":{self._id_json},"seq":{seq},"step":{step},"agent":"{agent}",'
            f'"kind":"{kind}","parent":{"null" if parent is None else parent},"payload":{payload}'
        )
        self.digest.update(f"{head}}}\n".encode())
        line = f'{head},"time":{to_json(time.time()).decode()},"duration_s":0.0}}'
        self.rows.append((self.episode_id, seq, kind, agent, step, line))
        self.count = seq + 1
        return seq


async def _hand_written(
    episodes: int, agents: int, steps: int, concurrency: int, store: Store, model: Counter
) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    system = Message(role="system", content=SYSTEM)
    system_json = _message_json(system).decode()

    async def turn(observation: Observation, seed: int) -> tuple[Action, str, str]:
        user = Message(role="user", content=observation.text)
        messages = [system, user]
        text = model(messages)
        reply = Message(role="assistant", content=text)
        usage = Usage(input_tokens=len(observation.text.split()), output_tokens=1)
        request = (
            f'{{"model":"scripted","messages":[{system_json},{_message_json(user).decode()}],'
            f'"tools":[],"params":{{"seed":{seed}}}}}'
        )
        response = (
            f'{{"message":{_message_json(reply).decode()},"usage":{_usage_json(usage).decode()},'
            f'"finish_reason":"stop","model":"scripted","attempt":1,"error":null,'
            f'"retry_after_s":null}}'
        )
        return Action(text=text), request, response

    async def episode(index: int) -> None:
        async with semaphore:
            episode_id = f"{ENV_ID}/fanout/{index}/0"
            store.start_episode(
                "hand", EpisodeRow(episode_id=episode_id, env=ENV_ID, task="fanout", seed=index)
            )
            log = _Log(episode_id)
            env = FanOutEnv(FanOutParams(agents=agents, steps=steps))
            observations = await env.reset(index)
            names = env.agents
            log.add(0, "env", "episode_start", None, f'{{"env":"{ENV_ID}","seed":{index}}}')
            for step in range(steps):
                handles = [
                    log.add(step, a, "observation", None, _wrap("observation", _to_json(o)))
                    for a, o in observations.items()
                ]
                results = await asyncio.gather(
                    *(turn(observations[a], index * 7919 + step) for a in names)
                )
                actions = {}
                for agent, handle, (action, request, response) in zip(
                    names, handles, results, strict=True
                ):
                    sent = log.add(step, agent, "model_request", handle, request)
                    log.add(step, agent, "model_response", sent, response)
                    log.add(step, agent, "action", handle, _wrap("action", _action_json(action)))
                    actions[agent] = action
                result = await env.step(actions)
                log.add(step, "env", "env_step", None, _env_step(result))
                rows, log.rows = log.rows, []
                store.append_rows("hand", rows)
                observations = result.observations
            score = env.score()
            log.add(steps, "env", "score", None, f'{{"value":{score.value}}}')
            log.add(steps, "env", "episode_end", None, '{"outcome":"success"}')
            store.append_rows("hand", log.rows)
            store.finish_episode(
                "hand",
                EpisodeSummary(
                    episode_id=episode_id,
                    outcome="success" if score.success else "failure",
                    reason="done",
                    steps=steps,
                    n_events=log.count,
                    hash=log.digest.hexdigest(),
                ),
            )

    await asyncio.gather(*(episode(i) for i in range(episodes)))


def run_hand_written(
    episodes: int, agents: int, steps: int, concurrency: int, path: Path
) -> tuple[float, int, int]:
    """(seconds, model calls, events) of the hand-written recorder into a new store."""
    model = Counter()
    with run_collector():
        started = time.perf_counter()
        with Store(path) as store:
            store.create_run("hand", experiment={}, seed=0)
            asyncio.run(_hand_written(episodes, agents, steps, concurrency, store, model))
            events = sum(e.n_events for e in store.episodes("hand"))
        return time.perf_counter() - started, model.calls, events


# -- (c) palaestra -----------------------------------------------------------------------


def experiment(
    episodes: int, agents: int, steps: int, concurrency: int, keep_history: bool
) -> Experiment:
    return Experiment(
        name="overhead",
        jobs=[
            Job(
                env=ENV_ID,
                params={"agents": agents, "steps": steps},
                tasks=1,
                seeds=episodes,
                operator=LLMOperatorConfig(
                    model="default", system_prompt=SYSTEM, keep_history=keep_history
                ),
            )
        ],
        concurrency=Concurrency(episodes=concurrency, model_calls=concurrency * agents),
        limits=Limits(max_steps=steps),
    )


def store_bytes(path: Path) -> int:
    """Bytes on disk of a closed store (the main file plus any WAL left behind)."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


class Measured(NamedTuple):
    seconds: float
    calls: int
    events: int
    store_bytes: int
    gc_seconds: float


def run_palaestra(exp: Experiment, store: Path) -> Measured:
    """One recorded run: its time, model calls, events, store size and GC time."""
    model = Counter()
    models: dict[str, Any] = {"default": ScriptedModel(fn=model)}
    with GCClock() as gc_clock:
        started = time.perf_counter()
        result = palaestra.run(exp, run_id="overhead", store=store, models=models)
        seconds = time.perf_counter() - started
    bad = [e for e in result.episodes if e.outcome != "success"]
    if bad:
        first = bad[0]
        raise SystemExit(
            f"{len(bad)} episodes did not succeed, e.g. {first.episode_id}: "
            f"{first.outcome} ({first.reason}) {first.error or ''}"
        )
    events = sum(e.n_events or 0 for e in result.episodes)
    return Measured(seconds, model.calls, events, store_bytes(store), gc_clock.seconds)


def warm_up(agents: int, steps: int) -> None:
    """One tiny run of each, so that one-time costs (imports of the built-in
    environments, first SQLite open) are not charged to whichever variant runs first."""
    run_bare(2, agents, steps, 2)
    with tempfile.TemporaryDirectory() as tmp:
        run_palaestra(experiment(2, agents, steps, 2, True), Path(tmp) / "warm.db")


def profile(args: argparse.Namespace) -> None:
    """Run palaestra once under cProfile; print the top functions both ways."""
    warm_up(args.agents, args.steps)
    exp = experiment(args.profile, args.agents, args.steps, args.concurrency, True)
    calls = args.profile * args.agents * args.steps
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        measured = run_palaestra(exp, Path(tmp) / "profile.db")
        profiler.disable()
    print(
        f"profile: {args.profile} episodes x {args.agents} agents x {args.steps} steps, "
        f"history on: {measured.seconds * 1e6 / calls:.1f} us per model call under cProfile, "
        f"of which GC {measured.gc_seconds * 1e6 / calls:.1f}"
    )
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        print(f"--- top {args.top} by {order} ---")
        print(out.getvalue().split("\n", 6)[-1].rstrip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1000, help="N episodes")
    parser.add_argument("--agents", type=int, default=8, help="M agents per episode")
    parser.add_argument("--steps", type=int, default=10, help="K steps per episode")
    parser.add_argument("--concurrency", type=int, default=32, help="episodes in flight")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; medians shown")
    parser.add_argument(
        "--profile", type=int, metavar="EPISODES", help="profile palaestra at this N instead"
    )
    parser.add_argument("--top", type=int, default=15, help="functions listed by --profile")
    args = parser.parse_args(argv)
    for name in ("episodes", "agents", "steps", "concurrency", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    register_fanout()
    if args.profile is not None:
        profile(args)
        return

    n, m, k, c = args.episodes, args.agents, args.steps, args.concurrency
    calls = n * m * k
    print(
        f"workload: {n:,} episodes x {m} agents x {k} steps = {calls:,} model calls, "
        f"{c} episodes in flight, zero-latency model, median of {args.repeat}"
    )
    warm_up(m, k)
    variants = {"no history": False, "history": True}
    baselines = {  # label: run_bare keywords
        "bare": {},
        "bare, runner's GC settings": {"tuned_gc": True},
        "bare, no environment": {"env": False},
    }
    bare: dict[str, list[float]] = {label: [] for label in baselines}
    bare_gc: list[float] = []
    hand: list[float] = []
    hand_events = 0
    ours: dict[str, list[Measured]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):  # interleaved, so machine load hits all alike
            for label, options in baselines.items():
                seconds, made, gc_seconds = run_bare(n, m, k, c, **options)
                assert made == calls, (label, made, calls)
                bare[label].append(seconds)
                if not options:
                    bare_gc.append(gc_seconds)
            path = Path(tmp) / f"hand-{r}.db"
            seconds, made, hand_events = run_hand_written(n, m, k, c, path)
            assert made == calls, (made, calls)
            hand.append(seconds)
            path.unlink()
            for label, keep in variants.items():
                store = Path(tmp) / f"{label.replace(' ', '-')}-{r}.db"
                measured = run_palaestra(experiment(n, m, k, c, keep), store)
                assert measured.calls == calls, (measured.calls, calls)
                ours[label].append(measured)
                store.unlink()

    def us(seconds: float) -> float:
        return seconds * 1e6 / calls

    base = us(statistics.median(bare["bare"]))
    tuned = us(statistics.median(bare["bare, runner's GC settings"]))
    no_env = us(statistics.median(bare["bare, no environment"]))
    print(
        f"bare asyncio (same environment and model, nothing recorded): {base:.1f} us per "
        f"model call (GC {us(statistics.median(bare_gc)):.1f})"
    )
    print(f"  the same under the runner's GC settings: {tuned:.1f} us per model call")
    print(f"  loop and model only, no environment: {no_env:.1f} us per model call")
    floor = us(statistics.median(hand))
    print(
        f"hand-written recorder (same log, keep_history=False): {floor:.1f} us per model "
        f"call, ratio {floor / base:.1f} x bare ({hand_events / calls:.2f} events per call)"
    )
    for label, keep in variants.items():
        runs = ours[label]
        ours_us = us(statistics.median([r.seconds for r in runs]))
        print(
            f"palaestra (keep_history={keep}): {ours_us:.1f} us per model call "
            f"(GC {us(statistics.median([r.gc_seconds for r in runs])):.1f}), "
            f"ratio {ours_us / base:.1f} x bare ({ours_us / tuned:.1f} x bare under the "
            f"runner's GC settings, {ours_us / no_env:.1f} x the loop without environment)"
            + ("" if keep else f", {ours_us / floor:.1f} x the hand-written recorder")
        )
    for label, keep in variants.items():
        last = ours[label][-1]
        print(
            f"recorded (keep_history={keep}): {last.events / calls:.2f} events per model "
            f"call, store {last.store_bytes / n / 1024:.1f} KiB per episode"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
