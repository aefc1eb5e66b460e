"""`Pipeline`: a standard operating procedure (MetaGPT) — stages in a fixed order, each a
role whose structured output is validated before the next stage reads it.

At each environment step, `act(observation, ctx)` runs the stages in order. Stage ``i``
(a child context ``{agent}/{stage}``) is sent one `message` holding:

- the observation's text;
- the validated outputs of the previous stages, as one JSON object keyed by stage name
  (a schema stage's output is its validated object, a free-text stage's its text);
- its instructions, and, when it has a `schema`, the JSON schema its reply must match.

Its reply comes back as a `message`. For a stage with a schema, the first JSON object
in the reply (bare, or inside a ```json fence, or inside prose) is validated with the
pydantic model:

- valid: the object (as validated, defaults filled in) flows to the next stages;
- invalid (no JSON object, or field errors): the stage is asked once more, in the same
  conversation, with one ``field: error`` line per problem and the schema again;
- invalid twice: the stage *fails*. A `message` from the stage to the system's agent
  says so, naming the stage, the schema and the field errors, and the system's turn
  ends with the action ``Pipeline failed at stage '<name>': ...``. Nothing is raised:
  the episode goes on and the environment scores that answer.

The system's action is the last stage's output:

- without a schema, the last stage's own action, passed through unchanged (it is the
  only stage that sees the environment's tools, so it may call them);
- with a schema, an action whose `data` is the validated object (as JSON data) and
  whose `text` is its ``answer`` field when the schema has one (a string as is, any
  other value as JSON), else the whole object as JSON.

Stage operators are forked at every step: each step runs the procedure afresh, and no
conversation leaks between steps or episodes. A stage's operator may itself be a system
(its agents are then named ``{agent}/{stage}/{member}``) and each stage may use its own
model.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from palaestra.core import Action, Context, MessageEvent, Observation, Operator, UserError
from palaestra.systems._base import (
    action_text,
    describe_member,
    fork_member,
    open_consult,
    reply,
)
from palaestra.systems._json_reply import parse_model

FAILED_PREFIX = "Pipeline failed at stage"
"""How the action of a pipeline whose stage failed begins."""


@dataclass(frozen=True)
class Stage:
    """One step of the procedure: a named role, an operator, and optionally the pydantic
    model its output must validate against, with instructions for the role."""

    name: str
    operator: Operator
    schema: type[BaseModel] | None = None
    instructions: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise UserError(
                f"Stage: name must be a non-empty string without '/', got {self.name!r}"
            )
        if not isinstance(self.operator, Operator):
            raise UserError(
                f"Stage {self.name!r}: operator must have an `act` method, "
                f"got {type(self.operator).__name__}"
            )
        if self.schema is not None and not (
            isinstance(self.schema, type) and issubclass(self.schema, BaseModel)
        ):
            raise UserError(
                f"Stage {self.name!r}: schema must be a pydantic BaseModel subclass or None, "
                f"got {self.schema!r}"
            )
        if not isinstance(self.instructions, str):
            raise UserError(f"Stage {self.name!r}: instructions must be a string")

    def schema_json(self) -> str:
        """The JSON schema shown to the stage (compact)."""
        assert self.schema is not None
        return _schema_json(self.schema)


@functools.lru_cache(maxsize=256)
def _schema_json(schema: type[BaseModel]) -> str:
    # Building a JSON schema costs far more than a scripted model call: once per class.
    return json.dumps(schema.model_json_schema(), separators=(",", ":"))


class Pipeline:
    """Stages run in order, each validated before the next; see the module docstring."""

    def __init__(self, stages: Sequence[Stage]):
        stages = list(stages)
        if not stages:
            raise UserError("Pipeline: needs at least one stage")
        for index, stage in enumerate(stages):
            if not isinstance(stage, Stage):
                raise UserError(
                    f"Pipeline: stages[{index}] is a {type(stage).__name__}, expected a Stage"
                )
        names = [stage.name for stage in stages]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise UserError(f"Pipeline: stage names must be unique; repeated: {twice}")
        self.stages = stages

    def fork(self) -> Pipeline:
        """A fresh pipeline for one episode (stage operators are forked every step)."""
        return Pipeline(
            [Stage(s.name, fork_member(s.operator), s.schema, s.instructions) for s in self.stages]
        )

    def describe(self) -> str:
        """One line for `episode_start.operators`: the stages, their schemas, operators."""
        parts = [
            f"{s.name}{':' + s.schema.__name__ if s.schema else ''}={describe_member(s.operator)}"
            for s in self.stages
        ]
        return f"pipeline({', '.join(parts)})"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        outputs: dict[str, Any] = {}
        last = len(self.stages) - 1
        for index, stage in enumerate(self.stages):
            member = fork_member(stage.operator)
            text = self._prompt(index, stage, observation.text, outputs)
            base = None
            if index == last and stage.schema is None:
                base = observation.model_copy(update={"messages": []})
            action, child = await _ask(ctx, stage.name, member, text, base)
            if stage.schema is None:
                if index == last:
                    return action
                outputs[stage.name] = action_text(action)
                continue
            value, problems = parse_model(action_text(action), stage.schema)
            if value is None:
                retry = (
                    f"Your output did not match the schema of stage '{stage.name}':\n"
                    + "\n".join(f"- {p}" for p in problems)
                    + "\nReply again with only one JSON object that matches this JSON "
                    f"schema:\n{stage.schema_json()}"
                )
                action, child = await _ask(ctx, stage.name, member, retry, None)
                value, problems = parse_model(action_text(action), stage.schema)
            if value is None:
                return _fail(ctx, child, stage, problems)
            outputs[stage.name] = value.model_dump(mode="json")
            if index == last:
                return _final(value)
        raise AssertionError("unreachable: a pipeline has at least one stage")

    def _prompt(self, index: int, stage: Stage, task: str, outputs: dict[str, Any]) -> str:
        parts = [task] if task else []
        if outputs:
            previous = json.dumps(outputs, ensure_ascii=False, indent=1)
            parts.append(f"Outputs of the previous stages (JSON):\n{previous}")
        role = f"You are stage '{stage.name}' ({index + 1} of {len(self.stages)})."
        parts.append(f"{role} {stage.instructions}".strip())
        if stage.schema is not None:
            parts.append(
                "Reply with one JSON object that matches this JSON schema:\n" + stage.schema_json()
            )
        return "\n\n".join(parts)


async def _ask(
    ctx: Context, name: str, member: Operator, text: str, base: Observation | None
) -> tuple[Action, Context]:
    observation, child = open_consult(ctx, name, text, base=base)
    action = await member.act(observation, child)
    reply(ctx, child, action)
    return action, child


def _fail(ctx: Context, child: Context, stage: Stage, problems: list[str]) -> Action:
    """Record the stage's failure and the system's closing action."""
    assert stage.schema is not None
    errors = "; ".join(problems)
    child.emit(
        MessageEvent(
            sender=child.agent,
            recipients=[ctx.agent],
            content=(
                f"Stage '{stage.name}' failed: its output did not match schema "
                f"{stage.schema.__name__} after one re-ask: {errors}"
            ),
        ),
        parent=child.turn_event,
    )
    return Action(
        text=(
            f"{FAILED_PREFIX} '{stage.name}': its output did not match schema "
            f"{stage.schema.__name__} ({errors})."
        )
    )


def _final(value: BaseModel) -> Action:
    data = value.model_dump(mode="json")
    if "answer" in type(value).model_fields:
        answer = data["answer"]
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    else:
        text = value.model_dump_json()
    return Action(text=text, data=data)
