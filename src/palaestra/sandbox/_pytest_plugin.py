"""The pytest plugin `run_tests` loads inside the sandbox: one JSON line per test (and per
collection error) written to a report file in the workspace, as soon as each is known.

palaestra never imports this module to run it: `_pytest_run` copies its file into the
read-only directory that makes pytest importable in the sandbox (as `PLUGIN_MODULE`),
and pytest loads it with ``-p``. It uses only the standard library and pytest's hook
names (no ``import pytest``), so it loads wherever pytest does.

Each line is a JSON object, one of:

- ``{"nodeid", "outcome", "duration", "message", "details"}`` for a test, once all its
  phases ran: `outcome` is ``passed``, ``failed`` (its call failed), ``error`` (its
  setup or teardown failed) or ``skipped`` (an expected failure counts as skipped, with
  its reason); `message` is the one-line reason pytest prints in its short summary;
  `details` is the end of its failure report (``--tb`` style);
- the same for a file that could not be collected (``outcome: error``);
- ``{"summary": true, "exitstatus", "collected"}`` last, when the session ends.

Lines are written as they come, so a run killed at its wall clock still leaves the
results of the tests that ended. Nothing here is trusted by the host: the code under
test runs in this process and may rewrite the file (`_pytest_run` parses it as hostile).
"""

from __future__ import annotations

import json
import os
from typing import Any

REPORT_VARIABLE = "PALAESTRA_PYTEST_REPORT"
"""The environment variable naming the report file (relative to the working directory)."""
_MESSAGE_CHARS = 500
_DETAILS_CHARS = 4000

_results: dict[str, dict[str, Any]] = {}
_stream: Any = None


def _write(entry: dict[str, Any]) -> None:
    global _stream
    path = os.environ.get(REPORT_VARIABLE)
    if not path:
        return
    if _stream is None:
        _stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 - kept open for the session
    _stream.write(json.dumps(entry, ensure_ascii=True) + "\n")
    _stream.flush()


def _message(report: Any) -> str:
    """The one-line reason of a failed or skipped report."""
    longrepr = getattr(report, "longrepr", None)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, reason)
        text = str(longrepr[2])
        return text[len("Skipped: ") :] if text.startswith("Skipped: ") else text
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message).strip().splitlines()[0][:_MESSAGE_CHARS]
    lines = [line for line in str(longrepr or "").strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    chosen = (errors or lines or [""])[-1]
    return (
        chosen[2:].strip()[:_MESSAGE_CHARS] if chosen.startswith("E ") else chosen[:_MESSAGE_CHARS]
    )


def _details(report: Any) -> str:
    text = str(getattr(report, "longreprtext", "") or "")
    return text[-_DETAILS_CHARS:]


def pytest_runtest_logreport(report: Any) -> None:
    """Fold the setup, call and teardown reports of a test into one result."""
    entry = _results.setdefault(
        report.nodeid,
        {
            "nodeid": report.nodeid,
            "outcome": "passed",
            "duration": 0.0,
            "message": "",
            "details": "",
        },
    )
    entry["duration"] += float(getattr(report, "duration", 0.0) or 0.0)
    if entry["outcome"] in ("failed", "error"):
        return  # the first failure is the one to report
    xfail = getattr(report, "wasxfail", None)
    if report.skipped:
        if entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            entry["message"] = f"expected failure: {xfail}" if xfail else _message(report)
    elif report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"
        entry["message"] = _message(report)
        if report.when != "call":
            entry["message"] = f"{report.when} failed: {entry['message']}"
        entry["details"] = _details(report)


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    entry = _results.pop(nodeid, None)
    if entry is not None:
        entry["duration"] = round(entry["duration"], 6)
        _write(entry)


def pytest_collectreport(report: Any) -> None:
    if report.failed:
        _write(
            {
                "nodeid": report.nodeid or "(collection)",
                "outcome": "error",
                "duration": 0.0,
                "message": "collection failed: " + _message(report),
                "details": _details(report),
            }
        )


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    for nodeid in list(_results):  # tests whose last phase never reported (interrupted)
        pytest_runtest_logfinish(nodeid, None)
    _write(
        {
            "summary": True,
            "exitstatus": int(exitstatus),
            "collected": int(getattr(session, "testscollected", 0) or 0),
        }
    )
    if _stream is not None:
        _stream.close()
