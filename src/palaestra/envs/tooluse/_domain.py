"""What a tool-use domain is made of, and the domain-independent machinery around it.

A domain (the store, later airline, telecom...) is four things, each a small module of its
own package:

- a **database**: a pydantic model generated deterministically from a seed;
- **tools**: `DomainTool`s, each a JSON-schema spec plus a function `(db, **args) -> str`
  that reads or changes the database and returns an error string for a bad call;
- a **policy**: a markdown document the agent must follow (its first observation);
- a **task generator**: `(db, db_seed, num_tasks) -> [Task]`, each task a customer
  instruction, the ground-truth tool calls and the outputs the agent must tell the user.

`ToolUseEnv` turns any `Domain` into an environment; the reward is tau-bench's: the hash
of the final database must equal the hash after replaying the ground truth on a fresh
copy, and every required output must appear in some reply of the agent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from palaestra.core import ToolSpec
from palaestra.envs.tooluse._schema import check_schema, validate_arguments

ERROR_PREFIX = "Error:"
"""Every failed tool call returns a string starting with this."""


class ExpectedCall(BaseModel):
    """One ground-truth tool call of a task."""

    model_config = ConfigDict(extra="forbid")
    name: str
    """Tool name."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """The exact arguments (JSON values)."""


class Task(BaseModel):
    """One customer request with its ground truth."""

    model_config = ConfigDict(extra="forbid")
    id: str
    """Stable id, unique within one (db_seed, num_tasks) task list."""
    intent: str
    """Kind of request (e.g. `cancel`, `lookup`), for grouping results."""
    instruction: str
    """What the customer says first, in the first person, with the identifying details
    (email, or name and zip code) a real customer would give."""
    actions: list[ExpectedCall]
    """Ground-truth tool calls, in order; replayed on a fresh database to get the target
    database hash."""
    outputs: list[str] = Field(default_factory=list)
    """Strings that must appear (case-insensitively, commas removed from the reply) in
    some text reply of the agent."""


ToolFunction = Callable[..., str]
"""`function(db, **arguments) -> str`: the tool's result, or `"Error: ..."`."""


@dataclass(frozen=True)
class DomainTool:
    """A tool of a domain: what the agent is told, and what it does to the database."""

    name: str
    description: str
    """What the tool does and when to use it, written for the agent."""
    parameters: dict[str, Any]
    """JSON schema of the arguments (an object schema)."""
    function: ToolFunction = field(compare=False)
    terminates: bool = False
    """Calling it ends the episode (e.g. transfer to a human agent)."""

    def __post_init__(self) -> None:
        # a schema the arguments cannot be checked against fails here, not in an episode
        check_schema(self.name, self.parameters)

    @property
    def spec(self) -> ToolSpec:
        """The `ToolSpec` shown in observations."""
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


@dataclass(frozen=True)
class DomainOutcome:
    """Result of executing one tool call against a database."""

    content: str
    """What the agent reads (JSON text, a confirmation, or `Error: ...`)."""
    error: bool
    """The call was rejected (unknown tool, bad arguments, against the state)."""
    terminates: bool
    """The call ends the episode."""


@dataclass(frozen=True)
class Domain:
    """A tool-use domain: database, tools, policy and task generator."""

    name: str
    """Short name, used in env ids (`tooluse.<name>`)."""
    policy: str
    """The policy document (markdown) the agent must follow."""
    tools: tuple[DomainTool, ...]
    make_database: Callable[[int], BaseModel]
    """`make_database(db_seed)`: the initial database, deterministic in the seed."""
    make_tasks: Callable[[BaseModel, int, int], list[Task]]
    """`make_tasks(db, db_seed, num_tasks)`: tasks over `db` (which it must not change)."""

    def tool(self, name: str) -> DomainTool | None:
        """The tool called `name`, if any."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    @property
    def specs(self) -> list[ToolSpec]:
        """Specs of every tool, in a fixed order."""
        return [tool.spec for tool in self.tools]

    def build_tasks(self, db_seed: int, num_tasks: int) -> list[Task]:
        """The task list of `(db_seed, num_tasks)`: same inputs, same tasks."""
        return self.make_tasks(self.make_database(db_seed), db_seed, num_tasks)

    def execute(self, db: BaseModel, name: str, arguments: dict[str, Any]) -> DomainOutcome:
        """Validate and run one tool call; mistakes come back as `Error: ...` text."""
        tool = self.tool(name)
        if tool is None:
            valid = ", ".join(t.name for t in self.tools)
            return DomainOutcome(
                f"{ERROR_PREFIX} unknown tool {name!r}; available tools: {valid}",
                error=True,
                terminates=False,
            )
        problem = validate_arguments(tool.parameters, arguments)
        if problem:
            return DomainOutcome(f"{ERROR_PREFIX} {name}: {problem}", error=True, terminates=False)
        content = tool.function(db, **arguments)
        error = content.startswith(ERROR_PREFIX)
        return DomainOutcome(content, error=error, terminates=tool.terminates and not error)


def db_hash(db: BaseModel) -> str:
    """Content hash of a database: SHA-256 of its canonical JSON (sorted keys)."""
    text = json.dumps(db.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def output_found(output: str, replies: list[str]) -> bool:
    """tau-bench's output check: `output` (lower-cased) occurs in some reply, lower-cased
    with its commas removed."""
    needle = output.lower()
    return any(needle in reply.lower().replace(",", "") for reply in replies)
