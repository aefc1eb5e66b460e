"""Shared memory: reads and writes recorded as events (hits, misses, rejected writes with
the policy's reason), admission policies, single flight under concurrency, per-episode
scope, and the memory tools of an LLM operator wrapped in `WithMemory`."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaestra.boundaries import (
    Admission,
    AdmitAll,
    AdmitIfNew,
    AdmitIfVerified,
    MaxEntries,
    Memory,
    SharedMemory,
    WithMemory,
    memory_tools,
)
from palaestra.core import Event, Observation, ObservationEvent, UserError
from palaestra.models import ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.runtime import AgentContext, EpisodeRecorder
from palaestra.runtime._recorder import row_event


def test_public_api():
    import palaestra.boundaries as b

    assert sorted(b.__all__) == [
        "Admission", "AdmissionPolicy", "AdmitAll", "AdmitIfNew", "AdmitIfVerified",
        "ArgumentConstraint", "Capability", "Decision", "FAULTS_AT",
        "FaultError", "FaultParams", "FaultPlan", "FaultRule", "FaultyMemory", "FaultyModel",
        "FaultyTool", "GovernanceRequest", "GovernanceVerdict", "Governed", "GovernedTool",
        "Governor", "Hit", "LimitedModel", "Limiter", "MaxEntries", "Memory", "MemoryEntry",
        "PRE_CALL", "Policy", "RateLimit", "RewriteOp", "Rule", "RuleStream", "SharedMemory",
        "SpendLimit", "WithMemory", "error_message", "fires", "memory_tools",
        "transform_text",
    ]  # fmt: skip
    assert all(hasattr(b, name) for name in b.__all__)


def _turn(rec: EpisodeRecorder, agent: str = "a") -> AgentContext:
    handle = rec.emit(0, agent, ObservationEvent(observation=Observation(text="go")))
    return AgentContext(rec, agent, 0, handle)


def _events(rec: EpisodeRecorder, *turns: AgentContext) -> list[Event]:
    for turn in turns:
        rec.flush_turn(turn)
    return [row_event(row) for row in rec.drain()]


def _memory_events(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind in ("memory_read", "memory_write")]


async def test_write_then_read_records_miss_write_and_hit():
    memory = SharedMemory(name="notes")
    rec = EpisodeRecorder("ep", run_seed=0)
    ctx = _turn(rec)
    assert await memory.read("fib30", ctx) is None
    admission = await memory.write("fib30", 832040, ctx)
    entry = await memory.read("fib30", ctx)
    assert admission.admitted and admission.reason == ""
    assert entry is not None and (entry.key, entry.value, entry.writer) == ("fib30", 832040, "a")
    assert memory.keys(ctx) == ["fib30"] == memory.keys()

    miss, write, hit = _memory_events(_events(rec, ctx))
    assert (miss.kind, miss.payload.hit, miss.payload.value) == ("memory_read", False, None)
    assert miss.payload.matched_key is None and miss.payload.writer is None
    assert (write.kind, write.payload.key, write.payload.value) == ("memory_write", "fib30", 832040)
    assert write.payload.admitted and write.payload.memory == "notes"
    assert (hit.payload.hit, hit.payload.value, hit.payload.writer) == (True, 832040, "a")
    assert all(e.parent == 0 and e.agent == "a" for e in (miss, write, hit))  # the turn


async def test_first_write_wins_and_the_rejection_is_recorded_with_its_reason():
    memory = SharedMemory(policy=AdmitIfNew())
    rec = EpisodeRecorder("ep", run_seed=0)
    first, second = _turn(rec, "sys/w1"), _turn(rec, "sys/w2")
    assert (await memory.write("k", "one", first)).admitted
    rejected = await memory.write("k", "two", second)
    assert not rejected.admitted
    assert rejected.reason == "'k' is already stored (written by sys/w1); the first write wins"
    entry = await memory.read("k", second)
    assert entry is not None and entry.value == "one" and entry.writer == "sys/w1"
    writes = [e for e in _events(rec, first, second) if e.kind == "memory_write"]
    assert [(e.agent, e.payload.admitted, e.payload.reason) for e in writes] == [
        ("sys/w1", True, ""),
        ("sys/w2", False, rejected.reason),
    ]


async def test_max_entries_refuses_new_keys_but_allows_replacing():
    memory = SharedMemory(policy=MaxEntries(2))
    ctx = _turn(EpisodeRecorder("ep", run_seed=0))
    assert (await memory.write("a", 1, ctx)).admitted
    assert (await memory.write("b", 2, ctx)).admitted
    full = await memory.write("c", 3, ctx)
    assert (full.admitted, full.reason) == (False, "the memory is full (2 entries, MaxEntries(2))")
    assert (await memory.write("a", 10, ctx)).admitted
    assert memory.keys(ctx) == ["b", "a"]  # a replaced key moves to the end
    entry = await memory.read("a", ctx)
    assert entry is not None and entry.value == 10


async def test_verified_policy_and_policies_that_must_all_admit():
    def even(key: str, value: object) -> bool | str:
        return isinstance(value, int) and value % 2 == 0 or f"{value!r} is odd"

    memory = SharedMemory(policy=[AdmitIfVerified(even), AdmitIfNew()])
    ctx = _turn(EpisodeRecorder("ep", run_seed=0))
    assert await memory.write("x", 3, ctx) == Admission(False, "3 is odd")
    assert await memory.write("y", 4, ctx) == Admission(True)
    assert (await memory.write("y", 6, ctx)).reason.endswith("the first write wins")
    assert memory.keys(ctx) == ["y"]

    silent = SharedMemory(policy=AdmitIfVerified(lambda k, v: False))
    refused = await silent.write("z", 1, ctx)
    assert (refused.admitted, refused.reason) == (False, "'z' was not verified by "
                                                   "AdmitIfVerified(<lambda>)")  # fmt: skip


async def test_values_are_stored_as_json_data():
    memory = SharedMemory()
    ctx = _turn(EpisodeRecorder("ep", run_seed=0))
    value = {"items": (1, 2)}
    await memory.write("k", value, ctx)
    value["items"] = ()  # the caller's object changing later changes nothing stored
    entry = await memory.read("k", ctx)
    assert entry is not None and entry.value == {"items": [1, 2]}
    with pytest.raises(UserError, match="the value for 'bad' is not JSON data"):
        await memory.write("bad", object(), ctx)
    with pytest.raises(UserError, match="keys must be non-empty strings"):
        await memory.read("  ", ctx)


async def test_a_query_falls_back_to_the_most_similar_key():
    memory = SharedMemory(similarity=0.5)
    rec = EpisodeRecorder("ep", run_seed=0)
    ctx = _turn(rec)
    await memory.write("population of Paris", 2_100_000, ctx)
    await memory.write("population of Rome", 2_800_000, ctx)
    # {paris, population} vs {population, of, paris}: 2/3 >= 0.5
    entry = await memory.read("Paris population", ctx)
    assert entry is not None and entry.key == "population of Paris"
    # {area, of, paris} vs {population, of, paris}: 2/4 = 0.5 (the earliest wins the tie)
    assert (await memory.read("area of Paris", ctx)) is not None
    assert (await memory.read("area of Berlin", ctx)) is None  # 1/5
    assert await SharedMemory().read("Paris population", ctx) is None  # exact by default
    reads = [e for e in _events(rec, ctx) if e.kind == "memory_read"]
    assert reads[0].payload.key == "Paris population"
    assert reads[0].payload.matched_key == "population of Paris"


async def test_episode_scope_keeps_episodes_apart_and_run_scope_shares():
    per_episode, per_run = SharedMemory(), SharedMemory(scope="run")
    one = _turn(EpisodeRecorder("ep1", run_seed=0))
    two = _turn(EpisodeRecorder("ep2", run_seed=0))
    for memory in (per_episode, per_run):
        await memory.write("k", "v", one)
    assert await per_episode.read("k", two) is None
    assert await per_run.read("k", two) is not None
    per_episode.clear("ep1")
    assert per_episode.keys() == []


async def test_single_flight_makes_a_concurrent_reader_wait_for_the_claimant():
    memory = SharedMemory(single_flight=True)
    rec = EpisodeRecorder("ep", run_seed=0)
    first, second = _turn(rec, "s/w1"), _turn(rec, "s/w2")
    order: list[str] = []

    async def claimant() -> None:
        assert await memory.read("k", first) is None  # miss: claims "k"
        order.append("claimed")
        await asyncio.sleep(0.01)  # the expensive work
        order.append("write")
        await memory.write("k", "result", first)

    async def reader() -> None:
        await asyncio.sleep(0)  # starts after the claim
        entry = await memory.read("k", second)
        order.append(f"read {entry.value if entry else None}")

    await asyncio.gather(claimant(), reader())
    assert order == ["claimed", "write", "read result"]
    read = [e for e in _events(rec, first, second) if e.agent == "s/w2"][-1]
    assert read.payload.hit and read.payload.writer == "s/w1"
    assert read.duration_s >= 0.005  # it waited for the write


async def test_single_flight_wait_ends_after_wait_s_and_the_reader_takes_over():
    memory = SharedMemory(single_flight=True, wait_s=0.02)
    rec = EpisodeRecorder("ep", run_seed=0)
    first, second, third = _turn(rec, "w1"), _turn(rec, "w2"), _turn(rec, "w3")
    assert await memory.read("k", first) is None  # w1 claims and never writes
    assert await memory.read("k", second) is None  # waits 0.02 s, then claims
    waiter = asyncio.create_task(memory.read("k", third))  # now waits on w2's claim
    await asyncio.sleep(0)
    assert not waiter.done()
    await memory.write("k", 7, second)
    entry = await waiter
    assert entry is not None and entry.value == 7 and entry.writer == "w2"


async def test_a_claim_ends_with_the_claimants_turn_when_it_wrote_nothing():
    memory = SharedMemory(single_flight=True, wait_s=30)

    async def give_up(request: object) -> str:
        await asyncio.sleep(0.01)
        return "gave up"

    model = ScriptedModel([ScriptedModel.call("memory_read", key="k"), give_up])
    claimant = WithMemory(LLMOperator(model, tools=memory_tools(memory)), memory)
    rec = EpisodeRecorder("ep", run_seed=0)
    first, second = _turn(rec, "w1"), _turn(rec, "w2")

    async def reader() -> object:
        await asyncio.sleep(0.001)  # after w1's claim
        return await memory.read("k", second)

    started = asyncio.get_running_loop().time()
    action, entry = await asyncio.gather(claimant.act(Observation(text="go"), first), reader())
    assert action.text == "gave up" and entry is None
    assert asyncio.get_running_loop().time() - started < 5  # not the 30 s of wait_s


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(), st.sampled_from(["x", "y"])),
        max_size=12,
    )
)
def test_policies_against_their_definition(writes):
    """AdmitAll keeps the last write of each key, AdmitIfNew the first; MaxEntries(2)
    keeps at most 2 keys: the first two distinct keys written."""

    async def play(memory: SharedMemory) -> dict[str, tuple[int, str]]:
        rec = EpisodeRecorder("ep", run_seed=0)
        turns = {agent: _turn(rec, agent) for agent in ("x", "y")}
        for key, value, agent in writes:
            await memory.write(key, value, turns[agent])
        found = {}
        for key in memory.keys():
            entry = await memory.read(key, turns["x"])
            assert entry is not None
            found[key] = (entry.value, entry.writer)
        return found

    last = {k: (v, a) for k, v, a in writes}
    first: dict[str, tuple[int, str]] = {}
    for key, value, agent in writes:
        first.setdefault(key, (value, agent))
    two_keys = list(dict.fromkeys(k for k, _, _ in writes))[:2]
    assert asyncio.run(play(SharedMemory(policy=AdmitAll()))) == last
    assert asyncio.run(play(SharedMemory(policy=AdmitIfNew()))) == first
    capped = asyncio.run(play(SharedMemory(policy=MaxEntries(2))))
    assert capped == {k: last[k] for k in two_keys}


async def test_concurrent_first_writes_admit_exactly_one():
    memory = SharedMemory(policy=AdmitIfNew())
    rec = EpisodeRecorder("ep", run_seed=0)
    turns = [_turn(rec, f"w{i}") for i in range(20)]

    async def write(i: int) -> bool:
        await asyncio.sleep(0)
        return (await memory.write("k", i, turns[i])).admitted

    admitted = await asyncio.gather(*(write(i) for i in range(20)))
    assert sum(admitted) == 1


async def test_llm_members_share_through_the_memory_tools():
    memory = SharedMemory(policy=AdmitIfNew())
    model = ScriptedModel(
        [
            ScriptedModel.call("memory_write", key="answer", value="42"),
            ScriptedModel.call("memory_write", key="answer", value="43"),
            ScriptedModel.call("memory_read", key="answer"),
            ScriptedModel.call("memory_read", key="question"),
            "done",
        ]
    )
    operator = WithMemory(LLMOperator(model, tools=memory_tools(memory)), memory)
    assert operator.describe() == "llm:scripted+memory:memory"
    rec = EpisodeRecorder("ep", run_seed=0)
    ctx = _turn(rec, "team")
    member = ctx.child("w1")
    action = await operator.fork().act(Observation(text="work"), member)
    assert action.text == "done"
    events = _events(rec, ctx)
    results = [e.payload.content for e in events if e.kind == "tool_result"]
    assert results == [
        "Stored 'answer'.",
        "Not stored: 'answer' is already stored (written by team/w1); the first write wins.",
        "Found 'answer' (stored by team/w1): 42",
        "No entry for 'question' (stored keys: 'answer'). Work it out yourself, then store "
        "it with memory_write so that others can reuse it.",
    ]
    kinds = [e.kind for e in events if e.agent == "team/w1"]
    assert kinds.count("memory_write") == 2 and kinds.count("memory_read") == 2
    # each memory event sits between its tool call and tool result
    first_write = kinds.index("memory_write")
    assert kinds[first_write - 1 : first_write + 2] == ["tool_call", "memory_write", "tool_result"]


async def test_memory_tools_outside_with_memory_are_a_user_error():
    memory = SharedMemory()
    model = ScriptedModel([ScriptedModel.call("memory_read", key="k")])
    operator = LLMOperator(model, tools=memory_tools(memory))
    with pytest.raises(UserError, match=r"wrap the operator that holds the tool in WithMemory"):
        await operator.act(Observation(text="go"), _turn(EpisodeRecorder("ep", run_seed=0)))


def test_bad_parameters_name_what_is_wrong():
    assert isinstance(SharedMemory(), Memory)
    with pytest.raises(UserError, match="valid: episode, run"):
        SharedMemory(scope="world")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"similarity must be None \(exact keys\) or in \(0, 1\]"):
        SharedMemory(similarity=0)
    with pytest.raises(UserError, match="shipped: AdmitAll, AdmitIfNew"):
        SharedMemory(policy="first")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="MaxEntries needs a positive integer"):
        MaxEntries(0)
    with pytest.raises(UserError, match="WithMemory needs a Memory"):
        WithMemory(LLMOperator(ScriptedModel(["x"])), {})  # type: ignore[arg-type]
