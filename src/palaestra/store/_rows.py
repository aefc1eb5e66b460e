"""The rows the store keeps besides events: runs and episodes.

A *run* is one execution of an experiment (many episodes); an *episode row* is the
index entry of one episode's event log: what was run (env, task, seed, epoch, agents),
whether it finished, and its outcome in a few numbers so that listing and summarising a
run never has to read the events. `EpisodeSummary` is what the runner hands to
`Store.finish_episode` when an episode ends.

These are pydantic models because they are written to disk (SQLite, JSONL) and read back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from palaestra.core import EndReason

STORE_SCHEMA_VERSION = 3
"""Version of the SQLite layout (tables and columns). Bumped on any incompatible change;
a store written with another version is refused on open, except the versions
`store._schema` migrates in place. Version 2: events refer to their episode by the
episode's integer id. Version 3: the `leases` table (one writing process per run) and
`runs.reason`; version 2 stores are migrated when opened."""

RunStatus = Literal["running", "finished", "failed", "interrupted"]
RUN_STATUSES: tuple[str, ...] = ("running", "finished", "failed", "interrupted")
"""Valid values of `RunRow.status`."""

EpisodeStatus = Literal["running", "finished"]
Outcome = Literal["success", "failure", "error"]


class RunRow(BaseModel):
    """One run: an experiment executed under a run id."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    """Unique id of the run within the store."""
    name: str = ""
    """Human-readable name (the experiment's name, usually)."""
    seed: int
    """Run seed every random choice is derived from."""
    experiment: dict[str, Any] = Field(default_factory=dict)
    """The validated experiment, as JSON data; a resumed run must match it exactly."""
    status: RunStatus = "running"
    """running, finished, failed (an error stopped it) or interrupted (Ctrl-C, kill)."""
    created_at: float = 0.0
    """Unix time the run was created."""
    updated_at: float = 0.0
    """Unix time of the last status change."""
    reason: str | None = None
    """Why a run that is not finished stopped (the error, in one line); None otherwise."""


class EpisodeRow(BaseModel):
    """Index entry of one episode: identity, status and outcome in a few numbers."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = ""
    """Run the episode belongs to; `Store.start_episode` fills it in when left empty."""
    episode_id: str
    """Episode id, unique within the run; the events carry the same id."""
    env: str
    """Registered environment id."""
    task: str
    """Task id within the environment."""
    seed: int
    """Episode seed passed to the environment's `reset`."""
    epoch: int = 0
    """Repetition index of the same (task, seed)."""
    agents: list[str] = Field(default_factory=list)
    """Agent names, in the order they act."""
    status: EpisodeStatus = "running"
    """`running` until `finish_episode` made it `finished` (with all its events)."""
    outcome: Outcome | None = None
    """success / failure (the verified score said so) or error (an exception ended it);
    None while running."""
    reason: EndReason | None = None
    """Why the episode ended (done, max_steps, error, budget, truncated); None while
    running."""
    score: float | None = None
    """The environment's verified score, if it gave one."""
    success: bool | None = None
    """Whether the verified score counts as solved; None if there was no score."""
    total_reward: float = 0.0
    """Sum of all agents' rewards over the episode."""
    steps: int = 0
    """Environment steps taken."""
    n_events: int = 0
    """Events stored for the episode (0 while running)."""
    input_tokens: int = 0
    """Model input tokens over all agents."""
    output_tokens: int = 0
    """Model output tokens over all agents."""
    wall_s: float = 0.0
    """Wall-clock seconds from start to end."""
    hash: str | None = None
    """`episode_hash` of the event log (wall-clock fields left out)."""
    error: str | None = None
    """One-line description of the error, for `outcome == "error"`."""
    started_at: float | None = None
    """Unix time the (last attempt of the) episode started; the store fills it if None."""
    finished_at: float | None = None
    """Unix time it was marked finished; None while running."""


class EpisodeSummary(BaseModel):
    """The finishing fields of an episode, handed to `Store.finish_episode`."""

    model_config = ConfigDict(extra="forbid")

    episode_id: str
    outcome: Outcome
    reason: EndReason
    score: float | None = None
    success: bool | None = None
    total_reward: float = 0.0
    steps: int = 0
    n_events: int | None = None
    """Events the runner emitted. None lets the store fill in its own count; a number
    that differs from what the store received is refused (an event was lost)."""
    input_tokens: int = 0
    output_tokens: int = 0
    wall_s: float = 0.0
    hash: str | None = None
    error: str | None = None
    agents: list[str] | None = None
    """The episode's agents, known once its environment is built; None keeps those the
    episode was started with."""
