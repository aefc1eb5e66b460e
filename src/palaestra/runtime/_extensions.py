"""One extension seam: `RunExtension`, and `EXTENSIONS`, the registry of extension kinds.

A cross-cutting feature (fault injection, governance, online contracts, scorers, or an
outside package's own) is one `RunExtension`: hooks that default to identity or no-op,
called by the engine where it builds and runs things. Every hook of every extension is
applied the same way to a run and to its replay, through the `JobPlan` of the job:

- `wrap_model(model, agent=, key=)`: an LLM operator's model, once per agent (`key`: its
  name under `models:`);
- `wrap_tool(tool, agent=)`: each of an LLM operator's own tools, once per agent;
- `wrap_operator(operator, agent=)`: the agent's operator, once per episode;
- `wrap_env(env, episode=)`: the episode's environment, once per episode;
- `on_episode_start(episode)`, `on_event(episode, seq, step, agent, payload, parent, when)`
  (after each recorded event: keep it cheap, it is on the hot path) and
  `async on_episode_end(episode)` (after the environment's score, before
  `episode_end`; `episode.events()` is the log so far when `wants_log` is set).

Per-episode state lives in `episode.state[self]` (an extension is a key by identity: a
dataclass extension needs `eq=False`). Which extensions a job runs with is decided in
one place, `job_extensions`: the built-in kinds' `build(context, options)` is asked
(they read their own block of the experiment and return None when it has none), plus
the kinds named under `extensions:` of the experiment and the job (merged by the rule of
`palaestra.config.job_setting`). Their order is the order they wrap (the first
innermost) and see the episode. Adding a feature is one module with a `RunExtension`
and one `register_extension` call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaestra.config import Experiment, Job, RunModels, job_setting
from palaestra.core import Encoded, Event, Operator, Payload, Registry, UserError, qualified_name

if TYPE_CHECKING:
    from palaestra.models import Model
    from palaestra.runtime._episode import EpisodeSpec
    from palaestra.runtime._recorder import EpisodeRecorder
    from palaestra.tools import Tool


class RunExtension:
    """A cross-cutting feature of a run (see the module docstring). Subclass it and
    override the hooks you need; the others cost nothing."""

    wants_log: bool = False
    """`on_episode_end` reads `episode.events()` (the engine keeps the episode's rows)."""

    def wrap_model(self, model: Model, *, agent: str, key: str) -> Model:
        return model

    def wrap_tool(self, tool: Tool, *, agent: str) -> Tool:
        return tool

    def wrap_operator(self, operator: Operator, *, agent: str) -> Operator:
        return operator

    def wrap_env(self, env: Any, *, episode: EpisodeSpec) -> Any:
        return env

    def on_episode_start(self, episode: EpisodeRun) -> None:
        return None

    def on_event(
        self,
        episode: EpisodeRun,
        seq: int,
        step: int,
        agent: str,
        payload: Payload | Encoded,
        parent: int | None,
        when: float,
    ) -> None:
        return None

    async def on_episode_end(self, episode: EpisodeRun) -> None:
        return None


def overrides(extension: RunExtension, hook: str) -> bool:
    """Whether `extension` has its own `hook` (the engine skips identity hooks)."""
    return getattr(type(extension), hook) is not getattr(RunExtension, hook)


@dataclass
class EpisodeRun:
    """One episode as the extensions' episode hooks see it."""

    spec: EpisodeSpec
    recorder: EpisodeRecorder
    """Records events (`recorder.emit(step, agent, payload, parent=)`)."""
    env: Any
    started: bool = False
    """The environment's episode began (its `reset` returned)."""
    step: int = 0
    """The last step."""
    state: dict[RunExtension, Any] = field(default_factory=dict)
    """Each extension's own per-episode state."""
    _events: Callable[[], list[Event]] | None = None

    def events(self) -> list[Event]:
        """The episode's events recorded so far (extensions with `wants_log` only)."""
        if self._events is None:
            raise UserError("episode.events() needs an extension with `wants_log = True`")
        return self._events()


@dataclass(frozen=True)
class ExtensionContext:
    """What an extension kind's build sees: the job it runs in."""

    experiment: Experiment
    job: Job
    models: RunModels
    """The run's models (judges, ...)."""
    replaying: bool
    """The models answer from a recorded log (a replay)."""

    def setting(self, name: str) -> Any:
        """The job's `name` block (faults, governance, contracts, scorers, extensions)
        by the one job-over-experiment rule (`palaestra.config.job_setting`)."""
        return job_setting(self.experiment, self.job, name)


BuildExtension = Callable[[ExtensionContext, dict[str, Any]], "RunExtension | None"]


@dataclass(frozen=True)
class ExtensionKind:
    """A registered extension kind: `build(context, options)` -> the job's extension, or
    None when the job does not use it. The built-in kinds (`BUILTIN_ORDER`) are asked
    for every job (they read their own block of the experiment); the others when
    `extensions:` names them."""

    name: str
    build: BuildExtension

    @property
    def factory(self) -> BuildExtension:
        return self.build


def _adapt(name: str, obj: Any, **options: Any) -> ExtensionKind:
    if isinstance(obj, ExtensionKind):
        return obj
    if isinstance(obj, type) and issubclass(obj, RunExtension):  # a class: options as kwargs
        cls = obj
        return ExtensionKind(name, lambda context, opts: cls(**opts))
    raise UserError(
        f"extension {name!r}: {qualified_name(obj)} is neither a RunExtension subclass nor "
        "an ExtensionKind (register one with palaestra.runtime.register_extension)"
    )


def _same(old: ExtensionKind, new: ExtensionKind) -> bool:
    return old.build is new.build


def _builtins(name: str | None) -> None:
    # the built-in kinds register themselves beside their features
    import importlib

    for module in ("_faults", "_governance", "_contracts", "_scoring"):
        importlib.import_module(f"palaestra.runtime.{module}")


EXTENSIONS: Registry[ExtensionKind] = Registry(
    "extension", "palaestra.extensions", adapt=_adapt, same=_same, builtins=_builtins
)
"""Every extension kind by name; `extensions: [{use: NAME, options: {...}}]` in YAML."""

BUILTIN_ORDER = ("faults", "governance", "contracts", "scorers")
"""The built-in kinds, in the order they wrap (faults innermost) and see the episode."""


def register_extension(
    name: str,
    build: BuildExtension | type[RunExtension] | None = None,
    *,
    replace: bool = False,
) -> Any:
    """Register extension kind `name`: `build(context, options)` returns the job's
    `RunExtension` (or None), or a `RunExtension` subclass built with the entry's
    `options` as keyword arguments. Without `build`, a decorator."""

    def register(obj: Any) -> Any:
        kind = obj if isinstance(obj, type) else ExtensionKind(name, obj)
        EXTENSIONS.register(name, kind, replace=replace)
        return obj

    if build is None:
        return register
    register(build)
    return None


def job_extensions(context: ExtensionContext) -> list[RunExtension]:
    """The extensions `context.job` runs with, in order: the built-in kinds (those the
    job's settings switch on), then those `extensions:` names."""
    out: list[RunExtension] = []
    for name in BUILTIN_ORDER:
        made = EXTENSIONS.get(name).build(context, {})
        if made is not None:
            out.append(made)
    for spec in context.setting("extensions"):
        made = EXTENSIONS.get(spec.use).build(context, dict(spec.options))
        if made is not None:
            out.append(made)
    return out


def with_hook(extensions: Sequence[RunExtension], hook: str) -> list[RunExtension]:
    """The extensions that override `hook`."""
    return [ext for ext in extensions if overrides(ext, hook)]
