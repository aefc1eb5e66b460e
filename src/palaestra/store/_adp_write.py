"""Writing a run as ADP: one JSONL file (1.2.0, 1.3.0) or a dataset directory (1.5.0).

ADP 1.2.0 and 1.3.0 trajectories are self-contained: one JSON object per line, the tool
specs of each agent in `details.tools`. From 1.5.0 the tool specs belong to the dataset:
a 1.5.0 export is a directory holding

- `trajectories.jsonl`: the trajectories, one per line (`available_custom_tools` names
  the tools of each agent);
- `metadata.json`: `custom_tools` (every tool offered to, named by or called in a
  trajectory, in OpenAI's function format, first spec seen per name; a tool called but
  never offered gets an empty parameter schema), `code_enabled` (the languages of the code actions),
  `browser_enabled` (web observations or browser actions, by ADP's rule).

The directory is written whole or not at all (`atomic_directory`: filled under a
temporary name, renamed into place) when it is new or holds only an earlier export; in a
directory with other files (ADP's `datasets/NAME/` layout) the two files are each
written atomically, the trajectories first. `palaestra import` reads such a directory
back (or a JSONL file with a `metadata.json` beside it, ADP's own dataset layout).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from palaestra.core import ToolSpec, UserError, atomic_directory
from palaestra.store._adp import iter_views
from palaestra.store._adp_metadata import (
    BROWSER_ACTIONS,
    AdpDatasetMetadata,
    AdpFunctionSpec,
    AdpToolSpec,
    is_browser_action,
)
from palaestra.store._adp_schema import (
    ADP_SCHEMA_VERSION,
    ADP_VERSIONS,
    Adp12ApiAction,
    Adp12CodeAction,
    Adp12WebObservation,
    AdpTrajectory,
    trajectory_json,
)
from palaestra.store._jsonl import _opened

TRAJECTORIES_FILE = "trajectories.jsonl"
"""Name of the trajectories file in an ADP 1.5.0 export directory."""

METADATA_FILE = "metadata.json"
"""Name of the dataset metadata in an ADP dataset directory (ADP's own name)."""


class _Metadata:
    """`metadata.json` gathered while the trajectories are written."""

    def __init__(self) -> None:
        self.specs: dict[str, AdpToolSpec] = {}
        self.languages: set[str] = set()
        self.web = False
        self.browser_calls: list[tuple[str, dict[str, Any]]] = []

    def _spec(self, name: str, spec: ToolSpec | None) -> None:
        if name in self.specs:
            return
        function = (
            AdpFunctionSpec(
                name=name, description=spec.description or None, parameters=spec.parameters
            )
            if spec is not None
            else AdpFunctionSpec(name=name)
        )
        self.specs[name] = AdpToolSpec(function=function)

    def add(self, trajectory: AdpTrajectory, tools: dict[str, ToolSpec]) -> None:
        for name in getattr(trajectory, "available_custom_tools", None) or []:
            self._spec(name, tools.get(name))
        for name, spec in tools.items():  # offered to an agent whose list is not given
            self._spec(name, spec)
        for item in trajectory.content:
            if isinstance(item, Adp12CodeAction):
                self.languages.add(item.language)
            elif isinstance(item, Adp12WebObservation):
                self.web = True
            elif isinstance(item, Adp12ApiAction):
                self._spec(item.function, tools.get(item.function))
                if item.function in BROWSER_ACTIONS:
                    self.browser_calls.append((item.function, item.kwargs))

    def result(self) -> AdpDatasetMetadata:
        browsing = self.web or any(
            is_browser_action(name, kwargs, browsing=False) for name, kwargs in self.browser_calls
        )
        return AdpDatasetMetadata(
            custom_tools=list(self.specs.values()),
            code_enabled=sorted(self.languages),
            browser_enabled=browsing,
        )


def dataset_metadata(
    views: Iterable[tuple[AdpTrajectory, dict[str, ToolSpec]]],
) -> AdpDatasetMetadata:
    """`metadata.json` of ADP 1.5.0 for trajectories and the tool specs of their agents."""
    gathered = _Metadata()
    for trajectory, tools in views:
        gathered.add(trajectory, tools)
    return gathered.result()


def metadata_json(metadata: AdpDatasetMetadata) -> str:
    """`metadata.json` text (indented, as ADP's datasets keep it)."""
    return metadata.model_dump_json(indent=2) + "\n"


def export_adp(
    store: Any,
    run_id: str,
    fp_or_path: str | Path | IO[str],
    *,
    agents: Sequence[str] | None = None,
    version: str = ADP_SCHEMA_VERSION,
) -> int:
    """Write run `run_id` as ADP `version`; returns how many trajectories.

    1.2.0 and 1.3.0: JSONL, one trajectory per line, to a path or an open stream. 1.5.0:
    a dataset directory (`trajectories.jsonl` + `metadata.json`, see the module
    docstring), so `fp_or_path` must be a path; it is created if missing.
    """
    if version not in ADP_VERSIONS:
        raise UserError(
            f"unknown ADP version {version!r} (--adp-version); palaestra writes "
            f"{', '.join(ADP_VERSIONS)}"
        )
    if store.get_run(run_id) is None:
        raise UserError(f"no run {run_id!r} in store {store.path}")
    views = iter_views(store, run_id, agents=agents, version=version)
    if version != "1.5.0":
        written = 0
        with _opened(fp_or_path, "w") as (fp, _name):
            for trajectory, _tools in views:
                fp.write(trajectory_json(trajectory) + "\n")
                written += 1
        return written
    directory = _dataset_directory(fp_or_path)
    ours = {TRAJECTORIES_FILE, METADATA_FILE}
    whole = not directory.exists() or {p.name for p in directory.iterdir()} <= ours
    with atomic_directory(directory) if whole else contextlib.nullcontext(directory) as into:
        gathered = _Metadata()
        written = 0
        with _opened(into / TRAJECTORIES_FILE, "w") as (fp, _name):
            for trajectory, tools in views:
                gathered.add(trajectory, tools)
                fp.write(trajectory_json(trajectory) + "\n")
                written += 1
        with _opened(into / METADATA_FILE, "w") as (fp, _name):
            fp.write(metadata_json(gathered.result()))
    return written


def _dataset_directory(target: str | Path | IO[str]) -> Path:
    if not isinstance(target, str | Path):
        raise UserError(
            "ADP 1.5.0 is a dataset directory (trajectories.jsonl + metadata.json): give a "
            "directory path (-o DIR), or write --adp-version 1.3.0 to a stream"
        )
    path = Path(target)
    if path.suffix in (".jsonl", ".json"):
        raise UserError(
            f"-o {path}: ADP 1.5.0 writes a directory (trajectories.jsonl + metadata.json); "
            f"give a directory name, or --adp-version 1.3.0 for one JSONL file"
        )
    if path.exists() and not path.is_dir():
        raise UserError(f"-o {path}: exists and is not a directory (ADP 1.5.0 is a directory)")
    return path
