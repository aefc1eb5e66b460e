"""A domain whose database holds plain nested dicts (a field typed `dict[str, Any]`, as
an imported benchmark's data often is): no episode sees what another one changed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from palaestra.core import Action, ToolCall
from palaestra.envs.tooluse import Domain, DomainTool, ExpectedCall, Task, ToolUseEnv
from palaestra.testing import check_reuse_sync


class ProfilesDB(BaseModel):
    profiles: dict[str, Any]
    """user id -> {"address": {"city": ...}, "notes": [...]}: untyped nested data."""


def _set_city(db: ProfilesDB, user_id: str, city: str) -> str:
    db.profiles[user_id]["address"]["city"] = city
    db.profiles[user_id]["notes"].append(f"moved to {city}")
    return f"{user_id} now lives in {city}"


def _get_city(db: ProfilesDB, user_id: str) -> str:
    return str(db.profiles[user_id]["address"]["city"])


def _set_address(db: ProfilesDB, user_id: str, address: dict[str, Any]) -> str:
    db.profiles[user_id]["address"] = address
    return "address replaced"


_ID = {"type": "string"}
DOMAIN = Domain(
    name="profiles",
    policy="Help the customer update their profile.",
    tools=(
        DomainTool(
            "set_city",
            "Move a user to a city.",
            {
                "type": "object",
                "properties": {"user_id": _ID, "city": {"type": "string"}},
                "required": ["user_id", "city"],
                "additionalProperties": False,
            },
            _set_city,
        ),
        DomainTool(
            "get_city",
            "A user's city.",
            {
                "type": "object",
                "properties": {"user_id": _ID},
                "required": ["user_id"],
                "additionalProperties": False,
            },
            _get_city,
        ),
        DomainTool(
            "set_address",
            "Replace a user's address.",
            {
                "type": "object",
                "properties": {"user_id": _ID, "address": {"type": "object"}},
                "required": ["user_id", "address"],
                "additionalProperties": False,
            },
            _set_address,
        ),
    ),
    make_database=lambda seed: ProfilesDB(
        profiles={"u1": {"address": {"city": "Lyon"}, "notes": []}}
    ),
    make_tasks=lambda db, seed, n: [
        Task(
            id="move",
            intent="move",
            instruction="I am u1 and I moved to Oslo.",
            actions=[
                ExpectedCall(
                    name="set_address",
                    arguments={"user_id": "u1", "address": {"city": "Rome", "zip": "00100"}},
                ),
                ExpectedCall(name="set_city", arguments={"user_id": "u1", "city": "Oslo"}),
            ],
        )
    ][:n],
)


def _call(name: str, **arguments: Any) -> Action:
    return Action(tool_calls=[ToolCall(id=f"c_{name}", name=name, arguments=arguments)])


async def test_an_episode_starts_from_the_initial_nested_data() -> None:
    env = ToolUseEnv(DOMAIN, num_tasks=1)
    await env.reset(0, "move")
    await env.step({"agent": _call("set_city", user_id="u1", city="Paris")})
    assert env.state()["profiles"]["u1"]["address"]["city"] == "Paris"
    await env.reset(1, "move")
    assert env.state()["profiles"]["u1"] == {"address": {"city": "Lyon"}, "notes": []}
    step = await env.step({"agent": _call("get_city", user_id="u1")})
    assert "Lyon" in step.observations["agent"].text


async def test_replaying_the_ground_truth_leaves_the_task_unchanged() -> None:
    env = ToolUseEnv(DOMAIN, num_tasks=1)
    before = env.task("move").model_dump()
    await env.reset(0, "move")  # replays the ground truth for the target hash
    assert env.task("move").model_dump() == before  # its nested arguments too


def test_the_domain_keeps_the_reset_contract() -> None:
    """Look the city up, move, stop: what the lookup shows would differ on a reused
    instance if the move of an earlier episode had reached the initial data."""
    moves = iter(["Paris", "Oslo", "Rome", "Nice"] * 3)

    def actions(agent: str, observation: Any) -> Action:
        if "lives in" in observation.text:
            return Action(text="Done. ###STOP###")
        if observation.data.get("source") == "tool":
            return _call("set_city", user_id="u1", city=next(moves))
        return _call("get_city", user_id="u1")

    report = check_reuse_sync(lambda: ToolUseEnv(DOMAIN, num_tasks=1, max_turns=4), actions=actions)
    assert report.episodes == [("move", 0), ("move", 1), ("move", 0)]
    assert report.steps == 3 * 3
