"""The event schema: an episode is an append-only, ordered log of typed events.

Every feature of palaestra (check, replay, evaluate, export, train, view) is a function of
this log, so anything that matters for those must be recorded here. An `Event` carries its
place in the episode (`seq`, dense from 0; `step`, the environment step), who acted
(`agent`, or `"env"`), a `kind`, a `parent` link (the seq of the event that caused it, for
nesting: a tool call inside a model turn inside an agent turn), a wall-clock `time`, and a
typed `payload` whose class is fixed by `kind`.

Changes to this schema bump `SCHEMA_VERSION`; the store refuses logs of another version.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator

from palaestra.core._types import Action, Message, Observation, ToolCall, ToolSpec, Usage

SCHEMA_VERSION = 1
"""Version of the event schema. Bumped on any incompatible change."""

EventKind = Literal[
    "episode_start",
    "observation",
    "model_request",
    "model_response",
    "tool_call",
    "tool_result",
    "message",
    "action",
    "env_step",
    "memory_read",
    "memory_write",
    "governance",
    "fault",
    "contract_verdict",
    "workspace",
    "score",
    "episode_end",
]

EndReason = Literal["done", "max_steps", "error", "budget", "truncated", "contract"]
"""Why an episode ended: the env said done; the step limit; an exception; a token or
wall-time budget ran out; the environment truncated it; a contract with
`on_violation: end` was violated."""


class Payload(BaseModel):
    """Base of every event payload. Payloads hold no wall-clock data: timestamps and
    durations live on the `Event` itself (`time`, `duration_s`), outside the hash."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: ClassVar[str] = ""


class EpisodeStart(Payload):
    """First event of every episode: what is being run."""

    kind: ClassVar[str] = "episode_start"
    schema_version: int = SCHEMA_VERSION
    """Event schema version the log was written with."""
    env: str
    """Registered environment id."""
    task: str
    """Task id within the environment."""
    seed: int
    """Episode seed passed to `reset`."""
    epoch: int = 0
    """Repetition index of the same (task, seed)."""
    agents: list[str] = Field(default_factory=list)
    """Agent names, in the order they act."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Environment parameters."""
    operators: dict[str, str] = Field(default_factory=dict)
    """Which operator (kind and model) plays each agent."""


class ObservationEvent(Payload):
    """An agent receives an observation."""

    kind: ClassVar[str] = "observation"
    observation: Observation


SAMPLING_PARAMS = ("temperature", "top_p", "max_tokens", "seed", "stop")
"""The sampling parameters a request can set, as keys of `ModelRequestEvent.params`."""


class ModelRequestEvent(Payload):
    """A request sent to a model (one per logical call; retries show as responses)."""

    kind: ClassVar[str] = "model_request"
    model: str
    """Model spec as configured, e.g. `openai:gpt-4o-mini` or `local:smollm2-135m`."""
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    """Sampling parameters: temperature, top_p, max_tokens, seed."""


class ModelResponseEvent(Payload):
    """A model's reply to the request named by `parent`, or one failed attempt at it."""

    kind: ClassVar[str] = "model_response"
    message: Message | None = None
    """The assistant message; None for a failed attempt."""
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    model: str | None = None
    """Model name the provider reports."""
    attempt: int = 1
    """1 for the first try; every further send that reached the wire counts up (retries,
    and re-sends: see `resent`)."""
    error: str | None = None
    """Why this attempt failed (status and message), None on success."""
    retry_after_s: float | None = None
    """Delay before the next attempt, where one follows."""
    resent: bool = Field(False, exclude_if=lambda v: not v)
    """True on a failed attempt that the transport sent again at once on a new connection
    (it went out on a reused keep-alive connection that closed without a byte of reply;
    the server may have read it): the next attempt is that re-send, not a retry of the
    provider's policy. Left out of the JSON when False."""
    prompt_token_ids: list[int] | None = Field(None, exclude_if=lambda v: v is None)
    """Token ids of the prompt as the policy saw it, where the model reports them (a
    local policy being trained); left out of the JSON when None."""
    token_ids: list[int] | None = Field(None, exclude_if=lambda v: v is None)
    """Token ids the policy generated for this reply (never re-tokenised text), where
    the model reports them; the training data of `palaestra.train`."""
    logprobs: list[float] | None = Field(None, exclude_if=lambda v: v is None)
    """Log-probability of each generated token under the sampling policy, aligned with
    `token_ids`, where the model reports them."""


class ToolCallEvent(Payload):
    """An operator executes one of its own tools (environment tools are actions)."""

    kind: ClassVar[str] = "tool_call"
    call: ToolCall


class ToolResultEvent(Payload):
    """The result (or the recoverable error) of the tool call named by `parent`."""

    kind: ClassVar[str] = "tool_result"
    call_id: str
    name: str
    content: str
    is_error: bool = False


class MessageEvent(Payload):
    """One agent speaks to others."""

    kind: ClassVar[str] = "message"
    sender: str
    recipients: list[str]
    content: str
    round: int | None = None


class ActionEvent(Payload):
    """The action an agent takes at this step."""

    kind: ClassVar[str] = "action"
    action: Action


class EnvStep(Payload):
    """The environment applied the step's actions."""

    kind: ClassVar[str] = "env_step"
    rewards: dict[str, float] = Field(default_factory=dict)
    terminated: bool = False
    """The task reached a terminal state (success or failure)."""
    truncated: bool = False
    """The environment cut the episode short (its own limit), not a terminal state."""
    info: dict[str, Any] = Field(default_factory=dict)


class MemoryRead(Payload):
    """An agent read a memory (a hit or a miss)."""

    kind: ClassVar[str] = "memory_read"
    key: str
    """What was asked for: a key, or a query matched against the keys."""
    value: Any = None
    """The value found (JSON data); None on a miss."""
    hit: bool = False
    """Whether an entry was found."""
    matched_key: str | None = None
    """Key of the entry returned (differs from `key` when a query matched another key);
    None on a miss."""
    writer: str | None = None
    """Agent that wrote the entry returned; None on a miss."""
    memory: str = ""
    """Name of the memory read (agents may share several)."""


class MemoryWrite(Payload):
    """An agent wrote to a memory; the memory's admission policy admitted or rejected it."""

    kind: ClassVar[str] = "memory_write"
    key: str
    """The key written."""
    value: Any = None
    """The value offered (JSON data), whether admitted or not."""
    admitted: bool = True
    """Whether the entry was stored."""
    reason: str = ""
    """Why the admission policy rejected the write; empty when admitted."""
    memory: str = ""
    """Name of the memory written."""


class Governance(Payload):
    """A governance policy decided on something an agent tried to do."""

    kind: ClassVar[str] = "governance"
    decision: Literal["allow", "rewrite", "block"]
    rule: str
    target: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)


class Fault(Payload):
    """A fault was injected: what, where."""

    kind: ClassVar[str] = "fault"
    fault: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict)


class ContractVerdict(Payload):
    """A contract was checked on this log."""

    kind: ClassVar[str] = "contract_verdict"
    contract: str
    passed: bool
    first_violation: int | None = None
    """Seq of the first violating event, if any."""
    detail: str = ""
    """What was wrong and what was expected (empty when passed)."""
    step: int | None = None
    """Step of the first violating event, if any."""
    agent: str | None = None
    """Agent of the first violating event, if any."""


FileKind = Literal["file", "dir", "symlink", "other"]
"""What a workspace entry is: a regular file, a directory, a symbolic link (never
followed) or anything else (FIFO, socket, device)."""


class FileEntry(BaseModel):
    """One entry of a workspace listing or manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    """Relative to the workspace's root, with ``/`` separators."""
    kind: FileKind
    """``file``, ``dir``, ``symlink`` (never followed) or ``other`` (FIFO, socket...)."""
    size: int = 0
    """Bytes of a file (0 for the other kinds)."""
    sha256: str | None = None
    """Hex SHA-256 of a file's content, in a manifest (None where the byte budget ran out
    or in a plain listing)."""
    target: str | None = None
    """What a symbolic link points to (its text; the host never follows it)."""


class WorkspaceManifest(Payload):
    """What an episode's workspace held at the episode's end: its files (sorted by path)
    with sizes and content hashes, capped so that recording it stays cheap (`truncated`
    says whether it is complete). Recorded once per episode that held a workspace, by
    the environment (`palaestra.sandbox.EpisodeWorkspace`), whatever ended the episode;
    scorers grade the files an agent left from it and replay compares it.

    ``palaestra.sandbox.Manifest`` is this class: `Workspace.manifest()` returns it.
    """

    model_config = ConfigDict(frozen=True)
    kind: ClassVar[str] = "workspace"
    files: list[FileEntry] = Field(default_factory=list)
    """Files, symbolic links and other non-directories, at most the cap on files."""
    total_files: int = 0
    """Non-directories in the workspace (may exceed ``len(files)``)."""
    total_bytes: int = 0
    """Bytes of all regular files in the workspace."""
    truncated: bool = False
    """Entries were left out (the cap on files, or deeper than the listing descends) or
    not hashed (the cap on bytes hashed, or a file that changed while it was read)."""

    def file(self, path: str) -> FileEntry | None:
        """The entry of `path` (relative, ``/`` separators), or None if not listed."""
        for entry in self.files:
            if entry.path == path:
                return entry
        return None


def _unset(value: Any) -> bool:
    return value is None or value == "" or value == {}


class ScoreEvent(Payload):
    """A verdict on the episode: the environment's verified score (never self-reported;
    `scorer` empty), or the result of a named scorer run after it (`palaestra.eval`).

    The scorer fields (`scorer`, `answer`, `target`, `metadata`, `error`) are additive:
    left out of the JSON when unset, so an environment's score serialises (and hashes)
    exactly as before they existed.
    """

    kind: ClassVar[str] = "score"
    value: float
    """Score in [0, 1] (1 = fully solved)."""
    success: bool
    """Whether the episode counts as solved by this verdict."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Named sub-scores (an env's sub-checks, a rubric's items by dotted path)."""
    explanation: str = ""
    """What a person can check the verdict against."""
    scorer: str = Field("", exclude_if=_unset)
    """Name of the scorer; empty for the environment's own score."""
    answer: str | None = Field(None, exclude_if=_unset)
    """The answer the scorer extracted from the log and judged, where it used one."""
    target: Any = Field(None, exclude_if=_unset)
    """What is right (JSON data): on the environment's score, its task's target where the
    environment exposes one (`target()`); on a scorer's, the target it compared with."""
    metadata: dict[str, Any] = Field(default_factory=dict, exclude_if=_unset)
    """Scorer-specific detail (JSON data): each judge's grade, a rubric's tree."""
    error: str | None = Field(None, exclude_if=_unset)
    """Why the scorer failed (`value` is then 0 and not a verdict); None otherwise."""


JUDGE_AGENT = "judge"
"""Agent name under which scorers' judges record their calls (`judge` or `judge/<name>`)."""


def is_judge(agent: str) -> bool:
    """Whether `agent` is a scorer's judge rather than a part of the system evaluated:
    its model calls are the evaluation's cost, not the agent's (metrics leave them out)."""
    return agent == JUDGE_AGENT or agent.startswith(JUDGE_AGENT + "/")


class EpisodeEnd(Payload):
    """Last event of every episode."""

    kind: ClassVar[str] = "episode_end"
    outcome: Literal["success", "failure", "error"]
    reason: EndReason
    steps: int = 0
    total_reward: float = 0.0
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    """One-line description of the error for `reason == "error"` (of the budget for
    `budget`, of the violated contract for `contract`)."""
    traceback: str | None = None


PAYLOADS: dict[str, type[Payload]] = {
    cls.kind: cls
    for cls in (
        EpisodeStart,
        ObservationEvent,
        ModelRequestEvent,
        ModelResponseEvent,
        ToolCallEvent,
        ToolResultEvent,
        MessageEvent,
        ActionEvent,
        EnvStep,
        MemoryRead,
        MemoryWrite,
        Governance,
        Fault,
        ContractVerdict,
        WorkspaceManifest,
        ScoreEvent,
        EpisodeEnd,
    )
}
"""Payload class of each event kind."""


class Event(BaseModel):
    """One entry of an episode's log."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    episode_id: str
    """Episode this event belongs to (unique within a run)."""
    seq: int = Field(ge=0)
    """Position in the episode, dense from 0."""
    step: int = Field(ge=0)
    """Environment step during which the event happened."""
    agent: str
    """Who acted: an agent name, or `"env"`."""
    kind: EventKind
    """What happened; fixes the class of `payload`."""
    parent: int | None = None
    """Seq of the event that caused this one (nesting), if any."""
    payload: SerializeAsAny[Payload]
    """Kind-specific content."""
    time: float = 0.0
    """Unix time when recorded. Wall clock: left out of the hash."""
    duration_s: float = 0.0
    """Wall-clock seconds of what the event reports: a model attempt's latency, a tool's
    run time, the whole episode for `episode_end`; 0 otherwise. Left out of the hash.
    (`time` and `duration_s` are the last two fields, so the hashed form is a prefix of
    the stored JSON.)"""

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kind = data.get("kind")
            payload = data.get("payload")
            payload_cls = PAYLOADS.get(kind) if isinstance(kind, str) else None
            if payload_cls is not None and not isinstance(payload, payload_cls):
                data = dict(data)
                if isinstance(payload, Payload):
                    payload = payload.model_dump()
                data["payload"] = payload_cls.model_validate(payload or {})
        return data

    def to_json(self) -> str:
        """Compact JSON, the form stored and exported (pydantic's; the reference that
        `palaestra.core._event_codec` writes without building an `Event`)."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """Parse one event from its JSON form (validating kind and payload)."""
        return cls.model_validate_json(text)


def make_event(
    episode_id: str,
    seq: int,
    step: int,
    agent: str,
    payload: Payload,
    *,
    parent: int | None = None,
    time: float = 0.0,
    duration_s: float = 0.0,
) -> Event:
    """Build an event from a payload (the kind is the payload's)."""
    return Event(
        episode_id=episode_id,
        seq=seq,
        step=step,
        agent=agent,
        kind=payload.kind,
        parent=parent,
        time=time,
        duration_s=duration_s,
        payload=payload,
    )
