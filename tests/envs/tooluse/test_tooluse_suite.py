"""Both domains, 110 tasks each, two database seeds: every task's ground truth scores 1,
and one perturbed argument of its consequential call (one that still runs) scores 0;
a transfer is scored, and refusals are not free."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from palaestra.core import Action, ToolCall
from palaestra.envs import make
from palaestra.envs.tooluse import ExpectedCall, Task, ToolUseEnv
from palaestra.envs.tooluse._baselines import final_reply

DOMAINS = ["tooluse.store", "tooluse.airline"]
NUM_TASKS = 110
READS = {
    "find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details",
    "list_user_orders", "get_order_details", "get_product_details",
    "get_reservation_details", "list_airports", "search_direct_flights",
    "get_flight_status", "calculate",
}  # fmt: skip


def _env(env_id: str, db_seed: int) -> ToolUseEnv:
    env = make(env_id, db_seed=db_seed, num_tasks=NUM_TASKS)
    assert isinstance(env, ToolUseEnv)
    return env


async def _play(env: ToolUseEnv, task: Task, calls: list[ExpectedCall]) -> list[str]:
    """Make `calls` (one per turn), then reply like the ground truth; the tool results."""
    await env.reset(0, task.id)
    results = []
    for index, call in enumerate(calls):
        action = Action(tool_calls=[ToolCall(id=f"c{index}", name=call.name,
                                             arguments=dict(call.arguments))])  # fmt: skip
        step = await env.step({"agent": action})
        results.append(step.observations["agent"].messages[0].content or "")
        if step.terminated:
            return results
    step = await env.step({"agent": Action(text=final_reply(task))})
    assert step.terminated
    return results


def _write(task: Task) -> int | None:
    """Index of the task's last consequential call (not a look-up, not a transfer)."""
    writes = [i for i, c in enumerate(task.actions) if c.name not in READS]
    writes = [i for i in writes if task.actions[i].name != "transfer_to_human_agents"]
    return writes[-1] if writes else None


def _variants(value: Any, schema: dict[str, Any]) -> Iterator[Any]:
    """Other values of one argument, the most plausible first."""
    if "enum" in schema:
        yield from (choice for choice in schema["enum"] if choice != value)
    elif isinstance(value, bool):
        yield not value
    elif isinstance(value, int | float):
        yield value + 1
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-(\d{2})", value):
        day = int(value[-2:])
        yield f"{value[:-2]}{day + 1 if day < 28 else day - 1:02d}"
    elif isinstance(value, str) and value.isdigit():
        yield value[:-1] + str((int(value[-1]) + 1) % 10)
    elif isinstance(value, str):
        yield value + "x"
    elif isinstance(value, list) and value:
        if len(value) > 1:
            yield value[:-1]
        items = schema.get("items", {})
        if isinstance(value[0], dict):
            for key, inner in items.get("properties", {}).items():
                for other in _variants(value[0][key], inner):
                    yield [{**value[0], key: other}, *value[1:]]


def _alternatives(state: dict[str, Any], arguments: dict[str, Any], name: str) -> list[Any]:
    """Other valid-looking values of an id argument, from the initial database: the
    owner's other payment methods, the order's other items."""
    owner = arguments.get("user_id")
    if "order_id" in arguments:
        order = state["orders"][arguments["order_id"]]
        owner = order["user_id"]
        if name == "item_ids":
            return [[i["item_id"]] for i in order["items"] if [i["item_id"]] != arguments[name]]
    if "reservation_id" in arguments:
        owner = state["reservations"][arguments["reservation_id"]]["user_id"]
    if name in ("payment_method_id", "payment_id") and owner is not None:
        return [m for m in state["users"][owner]["payment_methods"] if m != arguments[name]]
    return []


def _perturbations(env: ToolUseEnv, task: Task, index: int) -> Iterator[list[ExpectedCall]]:
    call = task.actions[index]
    tool = env.domain.tool(call.name)
    assert tool is not None
    state = env.state()  # the initial database: _play resets before each episode
    for name, schema in tool.parameters["properties"].items():
        others = [*_variants(call.arguments[name], schema)]
        others += _alternatives(state, call.arguments, name)
        for other in others:
            changed = ExpectedCall(name=call.name, arguments={**call.arguments, name: other})
            yield [*task.actions[:index], changed, *task.actions[index + 1 :]]


@pytest.mark.slow
@pytest.mark.timeout(180)  # every task's ground truth, twice per domain
@pytest.mark.parametrize("env_id", DOMAINS)
@pytest.mark.parametrize("db_seed", [0, 5])
async def test_every_ground_truth_scores_one_and_a_perturbed_one_zero(
    env_id: str, db_seed: int, frozen_gc: None
) -> None:
    env = _env(env_id, db_seed)
    tasks = [env.task(t) for t in env.tasks()]
    assert len(tasks) == NUM_TASKS
    assert len({t.instruction for t in tasks[:100]}) == 100, "100 distinct tasks"
    unperturbed = []
    for task in tasks:
        results = await _play(env, task, task.actions)
        assert not [r for r in results if r.startswith("Error")], (task.id, results)
        score = env.score()
        assert score.value == 1.0, (task.id, score.explanation)
        index = _write(task)
        if index is None:
            continue
        await env.reset(0, task.id)
        for calls in _perturbations(env, task, index):
            results = await _play(env, task, calls)
            assert env.score().value == 0.0, (task.id, calls[index])
            assert env.score().metrics["db_match"] == 0.0
            if not results[index].startswith("Error"):
                break  # a wrong call that ran, and was caught by the database
        else:
            unperturbed.append(task.id)
    writes = [t for t in tasks if _write(t) is not None]
    assert len(writes) >= NUM_TASKS // 2
    assert len(unperturbed) <= len(writes) // 10, unperturbed


async def test_airline_intents_cover_refusals_lookups_and_transfers() -> None:
    env = _env("tooluse.airline", 0)
    tasks = [env.task(t) for t in env.tasks()]
    intents = Counter(t.intent for t in tasks)
    assert len(intents) == 11 and set(intents.values()) == {10}
    for task in tasks:
        transfers = [c for c in task.actions if c.name == "transfer_to_human_agents"]
        assert bool(transfers) == (task.intent == "transfer")
        if task.intent.endswith("_refused") or task.intent == "status":
            assert _write(task) is None and not transfers
        if task.intent == "status":
            assert len(task.outputs) == 2
        if task.intent == "book":
            assert [c.name for c in task.actions[1:3]] == ["list_airports", "search_direct_flights"]


async def test_transfer_is_reported_and_scored_only_when_asked() -> None:
    # tau-bench's reward does not look at the hand-over (it changes no data) ...
    env = _env("tooluse.airline", 0)
    task = env.task(next(t for t in env.tasks() if t.startswith("transfer")))
    await _play(env, task, task.actions[:-1])
    assert env.score().metrics == {"db_match": 1.0, "outputs_found": 1.0, "transfer_match": 0.0}
    assert env.score().value == 1.0
    assert "the ground truth transfers" in env.score().explanation
    # ... check_transfer=True makes a missing or an extra transfer score 0.
    strict = make("tooluse.airline", db_seed=0, num_tasks=NUM_TASKS, check_transfer=True)
    assert isinstance(strict, ToolUseEnv)
    await _play(strict, task, task.actions[:-1])
    assert strict.score().value == 0.0
    await _play(strict, task, task.actions)
    assert strict.score().value == 1.0
    refused = strict.task(next(t for t in strict.tasks() if t.startswith("cancel_refused")))
    transfer = ExpectedCall(name="transfer_to_human_agents", arguments={"summary": "refund"})
    await _play(strict, refused, [*refused.actions, transfer])
    assert strict.score().value == 0.0
    assert "which the ground truth does not" in strict.score().explanation


async def test_doing_what_the_policy_forbids_scores_zero() -> None:
    env = _env("tooluse.airline", 0)
    for task in [env.task(t) for t in env.tasks() if t.startswith("cancel_refused")]:
        reservation = task.actions[-1].arguments["reservation_id"]
        cancel = ExpectedCall(
            name="cancel_reservation",
            arguments={"reservation_id": reservation, "reason": "change of plan"},
        )
        results = await _play(env, task, [*task.actions, cancel])
        assert '"status":"cancelled"' in results[-1], "the tools do not enforce the policy"
        assert env.score().value == 0.0
        await _play(env, task, task.actions)
        assert env.score().value == 1.0, "refusing is right"
