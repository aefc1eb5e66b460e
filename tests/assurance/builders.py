"""Build episode logs by hand, event by event, for the diagnosis and metrics tests."""

from __future__ import annotations

from typing import Any

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    Fault,
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


class LogBuilder:
    """Appends events with dense seqs; `step` is the current environment step."""

    def __init__(self, episode_id: str = "job/t/0/0", agents: tuple[str, ...] = ("agent",)):
        self.episode_id = episode_id
        self.events: list[Event] = []
        self.step = 0
        self.add("env", EpisodeStart(env="toy", task="t", seed=0, agents=list(agents)))

    def add(self, agent: str, payload: Payload, parent: int | None = None) -> int:
        seq = len(self.events)
        self.events.append(
            make_event(self.episode_id, seq, self.step, agent, payload, parent=parent)
        )
        return seq

    def observe(self, agent: str = "agent", text: str = "go", **data: Any) -> int:
        return self.add(agent, ObservationEvent(observation=Observation(text=text, data=data)))

    def model(
        self,
        agent: str = "agent",
        reply: str = "ok",
        *,
        errors: int = 0,
        ok: bool = True,
        parent: int | None = None,
    ) -> int:
        request = self.add(
            agent,
            ModelRequestEvent(model="m", messages=[Message(role="user", content="q")]),
            parent=parent,
        )
        for attempt in range(1, errors + 1):
            self.add(agent, ModelResponseEvent(attempt=attempt, error="HTTP 503"), parent=request)
        if ok:
            self.add(
                agent,
                ModelResponseEvent(
                    message=Message(role="assistant", content=reply), attempt=errors + 1
                ),
                parent=request,
            )
        return request

    def tool(
        self,
        name: str,
        content: str,
        *,
        error: bool = False,
        agent: str = "agent",
        args: dict[str, Any] | None = None,
        fault: str | None = None,
    ) -> int:
        """An operator's own tool call and its result (with a `fault` injected under the
        call in between, as a fault wrapper records it); returns the call's seq."""
        call = ToolCall(id=f"c{len(self.events)}", name=name, arguments=args or {})
        seq = self.add(agent, ToolCallEvent(call=call))
        if fault is not None:
            self.add(agent, Fault(fault=fault, target=f"tool:{name}"), parent=seq)
        self.add(
            agent,
            ToolResultEvent(call_id=call.id, name=name, content=content, is_error=error),
            parent=seq,
        )
        return seq

    def act(
        self,
        agent: str = "agent",
        text: str | None = None,
        calls: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> int:
        tool_calls = [
            ToolCall(id=f"a{len(self.events)}_{i}", name=n, arguments=a)
            for i, (n, a) in enumerate(calls or [])
        ]
        return self.add(agent, ActionEvent(action=Action(text=text, tool_calls=tool_calls)))

    def env_step(self, rewards: dict[str, float] | None = None, **info: Any) -> int:
        seq = self.add("env", EnvStep(rewards=rewards or {}, info=info))
        self.step += 1
        return seq

    def end(
        self,
        outcome: str = "failure",
        reason: str = "done",
        *,
        explanation: str = "",
        error: str | None = None,
        traceback: str | None = None,
    ) -> list[Event]:
        if outcome != "error":
            self.add(
                "env",
                ScoreEvent(
                    value=float(outcome == "success"),
                    success=outcome == "success",
                    explanation=explanation,
                ),
            )
        self.add(
            "env",
            EpisodeEnd(
                outcome=outcome, reason=reason, steps=self.step, error=error, traceback=traceback
            ),
        )
        return self.events
