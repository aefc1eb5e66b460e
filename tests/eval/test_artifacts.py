"""`workspace_files`: grading an episode by the files its workspace held at the end (the
`workspace` event), through `EpisodeLog.workspace`; complete and truncated manifests,
every form of expectation, targets it cannot read."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError

from palaestra.core import EpisodeEnd, EpisodeStart, FileEntry, WorkspaceManifest, make_event
from palaestra.eval import (
    EpisodeLog,
    ScoreResult,
    ScorerSpec,
    Target,
    build_scorer,
    parse_scorer_arg,
    programmatic,
    workspace_files,
)

SHA = hashlib.sha256(b"print(42)\n").hexdigest()
FULL = WorkspaceManifest(
    files=[
        FileEntry(path="link", kind="symlink", target="/etc/passwd"),
        FileEntry(path="src/app.py", kind="file", size=10, sha256=SHA),
    ],
    total_files=2,
    total_bytes=10,
)


def _log(*manifests: WorkspaceManifest) -> EpisodeLog:
    events = [make_event("e", 0, 0, "env", EpisodeStart(env="x", task="t", seed=0))]
    events += [make_event("e", i + 1, 1, "env", m) for i, m in enumerate(manifests)]
    end = EpisodeEnd(outcome="success", reason="done")
    events.append(make_event("e", len(events), 1, "env", end))
    return EpisodeLog(events)


def _grade(log: EpisodeLog, target: object) -> ScoreResult:
    return workspace_files(log, Target.of(target))


def test_every_form_of_expectation_on_a_complete_manifest() -> None:
    log = _log(FULL)
    assert log.workspace == FULL
    met = {
        "src/app.py": SHA.upper(),
        "link": {"kind": "symlink", "target": "/etc/passwd"},
        "./missing.txt": False,
    }
    result = _grade(log, met)
    assert (result.value, result.success) == (1.0, True)
    assert result.explanation == "3/3 file expectations met"
    assert result.metadata["files"]["missing.txt"] == {"met": True, "why": ""}

    unmet = {"src/app.py": "0" * 64, "link": True, "gone.txt": True, "src/app.py ": False}
    result = _grade(log, unmet)  # "src/app.py " (a space at its end) is another name
    assert (result.value, result.success) == (0.25, False)
    assert result.explanation == (
        f"1/4 file expectations met; src/app.py: sha256 is '{SHA[:12]}...', expected "
        "'0000000000000000000000000000000000000000000000000000000000000000'; link: kind is "
        "'symlink', expected 'file'; gone.txt: no such file"
    )
    listed = _grade(log, ["src/app.py", "gone.txt"])  # a list: each a regular file
    assert (listed.value, listed.metadata["files"]["gone.txt"]["met"]) == (0.5, False)


def test_a_truncated_manifest_proves_no_absence_and_no_unhashed_content() -> None:
    cut = WorkspaceManifest(
        files=[FileEntry(path="big.bin", kind="file", size=1 << 30)],
        total_files=5000,
        total_bytes=1 << 30,
        truncated=True,
    )
    result = _grade(_log(cut), {"big.bin": {"size": 1 << 30}, "other": False, "x": True})
    assert (result.value, result.success) == (pytest.approx(1 / 3), False)
    assert result.metadata["truncated"] is True
    why = {path: found["why"] for path, found in result.metadata["files"].items()}
    assert why == {
        "big.bin": "",
        "other": "not listed, but the manifest is truncated: absence not shown",
        "x": "not listed (the manifest is truncated)",
    }
    hashed = _grade(_log(cut), {"big.bin": SHA})
    assert "not hashed" in hashed.explanation and hashed.value == 0.0


def test_the_last_manifest_counts_and_an_episode_without_one_scores_zero() -> None:
    assert _log(WorkspaceManifest(), FULL).workspace == FULL
    none = _grade(_log(), {"a": True})
    assert (none.value, none.success, none.error) == (0.0, False, None)
    assert none.explanation == "the episode recorded no workspace"
    empty = _grade(_log(FULL), None)
    assert empty.value == 0.0 and "no file expectations" in empty.explanation


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("src/app.py", "must map paths to expectations"),
        ({"a": "not a hash"}, "a: a text expectation is a SHA-256"),
        ({"a": {"mode": 644}}, "a: unknown field 'mode'"),
        ({"a": 3}, "a: expected true, false, a SHA-256 or a mapping"),
        ([1, 2], "a list target names paths; got 1"),
        ({"src/app.py": True, "./src//app.py": False}, "'src/app.py' is given twice"),
        ({"../etc/passwd": False}, "is not a path inside the workspace"),
    ],
)
def test_a_target_it_cannot_read_is_a_scorer_error(target: object, problem: str) -> None:
    result = _grade(_log(FULL), target)
    assert result.error is not None and problem in result.error


async def test_it_is_a_scorer_through_programmatic() -> None:
    scorer = programmatic(workspace_files)
    result = await scorer(_log(FULL), Target.of({"src/app.py": SHA}))
    assert result.success


async def test_it_is_a_scorer_kind_of_its_own() -> None:
    spec = ScorerSpec.model_validate({"use": "workspace_files", "target": {"src/app.py": SHA}})
    assert spec.label == "workspace_files"
    result = await build_scorer(spec)(_log(FULL), Target.of(spec.target))
    assert result.success
    assert parse_scorer_arg("workspace_files").use == "workspace_files"
    with pytest.raises(ValidationError, match="`answer` is not an option of scorer"):
        ScorerSpec.model_validate({"use": "workspace_files", "answer": "final"})
