"""`EpisodeWorkspace`: how an environment gives an agent a workspace and its tools for
one episode, and records what the workspace held at the episode's end.

Environment tools are what an agent may call through its actions (`Observation.tools`
lists their specs; ``Action.tool_calls`` holds the calls; the environment runs them and
answers in the next observation), so any operator can use them: an LLM operator passes
the specs to its model, a scripted or algorithmic one writes the calls itself. An
environment that holds an `EpisodeWorkspace`:

1. ``await ew.open(files)`` in `reset`: a fresh workspace (the previous one destroyed),
   started, seeded with the task's files; ``ew.specs`` go into every observation
   (``open(start=False)``: created but started by its first command, for an environment
   whose episodes may never run one);
2. ``await ew.call(tool_call)`` in `step` for each call whose name is in ``ew.names``
   (a `ToolOutcome`: content for the model, ``is_error`` for its mistakes);
3. in ``end_episode()`` (the optional hook of ``palaestra.envs.Environment``, which
   the runtime calls once after every episode, whatever ended it):
   ``ew.take_manifest()``, the workspace's `WorkspaceManifest` (files, sizes, SHA-256;
   capped; once per `open`, None after), queued for ``drain_events()``, which hands it
   to the log as a ``workspace`` event (for artifact-level scorers and replay checks);
   then ``await ew.aclose()`` destroys the workspace. An environment that ends an
   episode itself calls the same ``end_episode()`` on its last step, so the manifest
   follows that step's ``env_step`` and the workspace goes at once (also where no
   runtime drives it); ``finish()`` is the two in one;
4. ``await ew.aclose()`` in the environment's `aclose` (destroys a workspace still open:
   an episode abandoned without its end).

`isolation_event` is the ``governance`` event an environment records when its
workspaces run with ``isolation: none`` (see ``code.python``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from palaestra.core import Governance, ToolCall, ToolSpec, WorkspaceManifest
from palaestra.sandbox._limits import CommandLimits
from palaestra.sandbox._tools import TOOL_NAMES, workspace_tools
from palaestra.sandbox._workspace import NO_ISOLATION_WARNING, Workspace
from palaestra.tools import Tool, ToolOutcome, execute_tool_call


class EpisodeWorkspace:
    """One workspace per episode, made by `factory` (it must not be started yet), with
    the workspace tools of `include` (default: all) under the given limits (see
    `workspace_tools`). The manifest recorded at the end lists at most
    `manifest_files` files and hashes at most `manifest_bytes` of content."""

    def __init__(
        self,
        factory: Callable[[], Workspace],
        *,
        include: Iterable[str] | None = None,
        limits: CommandLimits | None = None,
        shell_limits: CommandLimits | None = None,
        test_limits: CommandLimits | None = None,
        manifest_files: int = 200,
        manifest_bytes: int = 16 << 20,
    ) -> None:
        self.factory = factory
        self.include = list(TOOL_NAMES if include is None else include)
        self.limits = limits
        self.shell_limits = shell_limits
        self.test_limits = test_limits
        self.manifest_files = manifest_files
        self.manifest_bytes = manifest_bytes
        self.workspace: Workspace | None = None
        """The episode's workspace (None before `open` and after `finish`)."""
        self._taken = False
        self._tools: dict[str, Tool] = {}
        self._specs: list[ToolSpec] = []

    @property
    def specs(self) -> list[ToolSpec]:
        """The tools' specs, for `Observation.tools` (known once `open` ran)."""
        return list(self._specs)

    @property
    def names(self) -> set[str]:
        return set(self._tools)

    async def open(
        self, files: Mapping[str, str | bytes] | None = None, *, start: bool = True
    ) -> Workspace:
        """Destroy the previous workspace, start a new one and write `files` into it
        (path relative to the workspace -> text or bytes). With ``start=False`` and no
        `files`, the workspace is made but left for its first command to start (the file
        tools need it started: use them only once a command ran)."""
        await self.aclose()
        workspace = self.factory()
        self.workspace = workspace
        self._taken = False
        try:
            if start or files:
                await workspace.start()
            for path, content in (files or {}).items():
                if isinstance(content, str):
                    workspace.write_text(path, content)
                else:
                    workspace.write_bytes(path, content)
            tools = workspace_tools(
                workspace,
                include=self.include,
                limits=self.limits,
                shell_limits=self.shell_limits,
                test_limits=self.test_limits,
            )
        except BaseException:
            await self.aclose()
            raise
        self._tools = {tool.name: tool for tool in tools}
        self._specs = [tool.spec for tool in tools]
        return workspace

    async def call(self, call: ToolCall) -> ToolOutcome:
        """Run one of the workspace tools (an unknown name or bad arguments come back as
        an error for the model, as from any palaestra tool)."""
        if self.workspace is None:
            raise RuntimeError("the episode's workspace is not open: await open() first")
        return await execute_tool_call(self._tools, call)

    def take_manifest(self) -> WorkspaceManifest | None:
        """The manifest of the episode's workspace, once per `open`: None before any
        `open`, once taken, or once the workspace was destroyed (`aclose`). A workspace
        never started has held nothing: its manifest is empty. Reading it is bounded by
        the caps (`manifest_files` listed, `manifest_bytes` hashed) and by the
        workspace's own (its size and file count)."""
        workspace = self.workspace
        if workspace is None or self._taken:
            return None
        self._taken = True
        if not workspace.started:
            return WorkspaceManifest()
        return workspace.manifest(max_files=self.manifest_files, max_bytes=self.manifest_bytes)

    async def finish(self) -> WorkspaceManifest | None:
        """`take_manifest`, then destroy the workspace. An environment's ``end_episode``
        records the manifest (in its ``drain_events`` queue) between the two, so that a
        teardown that fails or is cut short cannot lose it."""
        manifest = self.take_manifest()
        await self.aclose()
        return manifest

    async def aclose(self) -> None:
        """Destroy the workspace, if one is open. Idempotent."""
        workspace, self.workspace = self.workspace, None
        self._tools = {}
        if workspace is not None:
            await workspace.close()


def isolation_event(workspace: Workspace, target: str) -> Governance | None:
    """The ``governance`` event recording that `workspace` contains nothing
    (``isolation: none``), for the environment `target`; None when it is isolated."""
    if workspace.isolated:
        return None
    return Governance(
        decision="allow",
        rule="sandbox.isolation_none",
        target=target,
        detail={"isolation": "none", "warning": NO_ISOLATION_WARNING},
    )
