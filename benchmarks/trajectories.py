"""Benchmark of the pure training data path: stored run -> trajectories -> batch.

Runs E episodes of `bench.fanout` (M agents acting at each of K steps, keep_history on)
with an LLM operator on a fake token-reporting policy (character-level ids, so every
turn's prompt continues the previous prompt + reply and the turns join into one token
segment per trajectory), then times, on the stored run:

- **read**: `Store.events` of every finished episode (parsing and validating every
  event) — the floor, what any consumer of the log pays;
- **trajectories**: `palaestra.train.trajectories(store, run_id)` (reading included);
- **batch**: `make_batch(trajs, "grpo")` + `Batch.samples()` (per-token advantages).

It prints µs per model turn for each and the ratio of trajectories to the bare read.

    .venv/bin/python benchmarks/trajectories.py                 # 200 episodes x 4 x 10
    .venv/bin/python benchmarks/trajectories.py --episodes 20 --agents 2 --steps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ENV_ID, register_fanout  # noqa: E402

import palaestra  # noqa: E402
from palaestra.core import Message  # noqa: E402
from palaestra.models import ModelRequest, ModelResponse  # noqa: E402
from palaestra.runtime import Experiment, Job, LLMOperatorConfig  # noqa: E402
from palaestra.store import Store  # noqa: E402
from palaestra.train import make_batch, trajectories  # noqa: E402


def _encode(message: Message) -> list[int]:
    return [ord(c) for c in f"<{message.role}>{message.content or ''}</>"]


class FakePolicy:
    """Replies one word, reporting prompt and generated ids like a local policy."""

    name = "fake-policy"

    async def generate(self, request: ModelRequest) -> ModelResponse:
        turn = sum(m.role == "assistant" for m in request.messages)
        reply = Message(role="assistant", content=f"word{turn}")
        prompt = [tok for m in request.messages for tok in _encode(m)]
        generated = _encode(reply)
        return ModelResponse(
            message=reply,
            prompt_token_ids=prompt,
            token_ids=generated,
            logprobs=[-0.25] * len(generated),
        )


def _best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    register_fanout()
    experiment = Experiment(
        jobs=[
            Job(
                env=ENV_ID,
                params={"agents": args.agents, "steps": args.steps},
                epochs=args.episodes,
                operator=LLMOperatorConfig(model="default", keep_history=True),
            )
        ],
        limits={"max_steps": args.steps + 1},
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.db"
        result = palaestra.run(experiment, store=path, models={"default": FakePolicy()})
        if result.success_rate != 1.0:
            sys.exit(f"the workload failed: success rate {result.success_rate}")
        with Store(path) as store:
            rows = store.episodes(result.run_id, status="finished")
            read_s, n_events = _best(
                lambda: sum(len(store.events(result.run_id, r.episode_id)) for r in rows),
                args.repeat,
            )
            traj_s, trajs = _best(lambda: trajectories(store, result.run_id), args.repeat)
        assert isinstance(trajs, list)
        batch_s, samples = _best(
            lambda: make_batch(trajs, "grpo", drop_uniform=False).samples(), args.repeat
        )
        assert isinstance(samples, list)
    turns = sum(len(t.turns) for t in trajs)
    tokens = sum(len(s.input_ids) for s in samples)
    expected = args.episodes * args.agents * args.steps
    if turns != expected or len(samples) != args.episodes * args.agents:
        sys.exit(f"expected {expected} turns in one segment per trajectory, got {turns}")
    print(
        f"workload: {args.episodes} episodes x {args.agents} agents x {args.steps} steps "
        f"= {turns:,} model turns, {n_events:,} events, {tokens:,} tokens in "
        f"{len(samples):,} segments (best of {args.repeat})"
    )
    per_turn = {name: s / turns * 1e6 for name, s in [("read", read_s), ("trajectories", traj_s)]}
    print(f"read (Store.events): {per_turn['read']:.1f} us per turn")
    print(
        f"trajectories: {per_turn['trajectories']:.1f} us per turn, "
        f"ratio {traj_s / read_s:.2f} x read"
    )
    print(
        f"batch (grpo + samples): {batch_s / turns * 1e6:.1f} us per turn, "
        f"{tokens / batch_s / 1e6:.2f} M tokens/s"
    )
    print(f"median segment: {statistics.median(len(s.input_ids) for s in samples):,.0f} tokens")


if __name__ == "__main__":
    main()
