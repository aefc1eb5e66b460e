"""What the private shortcuts of the hot path would save, against their public versions.

Issue 18 keeps a private API of pydantic, CPython or the OpenAI SDK in the hot path only
where it saves at least 5% of the work it sits in, behind one function with a fallback
to the public API. Each comparison runs both ways of that function (switched for the
measurement) in the same process, interleaved, `--repeat` times; medians are printed.

- **contracts**: `core.trusted_event`, the `Event` that `runtime._contracts.OnlineMonitor`
  builds for each event a contract looks at: `Event.model_construct` (public) against an
  object whose `__dict__`, `__pydantic_fields_set__`, `__pydantic_extra__` and
  `__pydantic_private__` are set directly. Measured alone (per event) and on the run of
  `benchmarks/assurance.py` with its eight online contracts (wall time per event).
- **openai**: `models._openai_wire.encode_body`, the request body's JSON:
  `json.JSONEncoder.encode` (public, what palaestra uses; it makes a C encoder per call)
  against CPython's private `c_make_encoder` made once (rebuilt here). Measured alone
  (per body) and per `OpenAIModel.generate` call against a local `ChatServer` (this
  thread's CPU time, so the server's thread is not counted).

    .venv/bin/python benchmarks/fast_path.py
    .venv/bin/python benchmarks/fast_path.py --episodes 50 --calls 300 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import timeit
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from _common import FanOutParams

import assurance
import palaestra
import palaestra.core._event_codec as codec
import palaestra.models._openai as provider
import palaestra.models._openai_wire as wire
from palaestra.core import Message, Observation, ObservationEvent
from palaestra.envs import EnvSpec, register
from palaestra.models import ModelRequest, OpenAIModel, ScriptedModel
from palaestra.testing import ChatServer

PUBLIC_EVENT, PRIVATE_EVENT = codec._event_by_construct, codec._event_by_slots
_C_ENCODE = c_make_encoder(
    None, wire._ENCODER.default, encode_basestring, None, ":", ",", False, False, False
)


def private_encode_body(body: dict[str, Any]) -> bytes:
    """`encode_body` with CPython's C encoder made once."""
    return "".join(_C_ENCODE(body, 0)).encode()


PUBLIC_ENCODE = wire.encode_body
CHOSEN_EVENT = codec._build_event


def _saving(public: float, private: float) -> str:
    return f"private saves {(public - private) / public * 100:+.1f}%"


# -- contracts ---------------------------------------------------------------------------


def contracts(args: argparse.Namespace) -> None:
    values: dict[str, Any] = dict(
        episode_id="e", seq=3, step=1, agent="a", kind="observation", parent=None,
        payload=ObservationEvent(observation=Observation(text="hi")), time=1.5,
        duration_s=0.0,
    )  # fmt: skip
    alone = {
        name: min(timeit.repeat(lambda f=f: f(dict(values)), number=20_000, repeat=5)) / 20_000
        for name, f in (("public", PUBLIC_EVENT), ("private", PRIVATE_EVENT))
    }
    print(
        f"contracts, building one Event: public {alone['public'] * 1e6:.2f} us, private "
        f"{alone['private'] * 1e6:.2f} us"
    )
    register(
        EnvSpec(
            id=assurance.ENV_ID,
            factory=assurance.ToolFanOutEnv,
            params=FanOutParams,
            description="benchmark",
        ),
        replace=True,
    )
    ways = {"public": PUBLIC_EVENT, "private": PRIVATE_EVENT}
    walls: dict[str, list[float]] = {name: [] for name in ways}
    events = 0
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(-1, args.repeat):  # -1: warm-up
            for name, way in ways.items():
                codec._build_event = way
                exp = assurance.experiment("contracts", args.episodes if index >= 0 else 4, 2, 10)
                model = ScriptedModel(fn=assurance.reply, name="bench")
                start = time.perf_counter()
                result = palaestra.run(
                    exp, store=Path(tmp) / f"{name}{index}.db", models={"default": model}
                )
                if index >= 0:
                    walls[name].append(time.perf_counter() - start)
                    events = sum(row.n_events for row in result.episodes)
    codec._build_event = CHOSEN_EVENT
    per_event = {name: statistics.median(w) / events * 1e6 for name, w in walls.items()}
    print(
        f"contracts, run of {args.episodes} episodes x 2 agents x 10 steps, 8 contracts: "
        f"public {per_event['public']:.1f} us per event, private {per_event['private']:.1f} "
        f"({_saving(per_event['public'], per_event['private'])})"
    )


# -- openai ------------------------------------------------------------------------------


async def _generate_cpu(model: OpenAIModel, request: ModelRequest, calls: int) -> float:
    start = time.thread_time()
    for _ in range(calls):
        await model.generate(request)
    return (time.thread_time() - start) / calls


def openai(args: argparse.Namespace) -> None:
    request = ModelRequest(
        messages=[
            Message(role="system", content="You are an agent acting in an environment."),
            Message(role="user", content="Step 3. Reply with one word. " * 8),
        ],
        seed=1,
    )
    body = wire.build_request("bench", request)
    assert private_encode_body(body) == PUBLIC_ENCODE(body)
    ways = {"public": PUBLIC_ENCODE, "private": private_encode_body}
    alone = {
        name: min(timeit.repeat(lambda f=f: f(body), number=20_000, repeat=5)) / 20_000
        for name, f in ways.items()
    }
    print(
        f"openai, encoding one request body: public {alone['public'] * 1e6:.2f} us, private "
        f"{alone['private'] * 1e6:.2f} us"
    )
    cpu: dict[str, list[float]] = {name: [] for name in ways}

    async def measure() -> None:
        with ChatServer(reply="hello") as server:
            model = OpenAIModel("bench", base_url=server.base_url)
            try:
                for _ in range(20):  # warm: the connection pooled, the request head encoded
                    await model.generate(request)
                for _ in range(args.repeat):
                    for name, way in ways.items():
                        provider.encode_body = way
                        cpu[name].append(await _generate_cpu(model, request, args.calls))
            finally:
                provider.encode_body = PUBLIC_ENCODE
                await model.aclose()

    asyncio.run(measure())
    per_call = {name: statistics.median(c) * 1e6 for name, c in cpu.items()}
    print(
        f"openai, one generate call ({args.calls} calls, client thread CPU): public "
        f"{per_call['public']:.1f} us, private {per_call['private']:.1f} us "
        f"({_saving(per_call['public'], per_call['private'])})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    contracts(args)
    openai(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
