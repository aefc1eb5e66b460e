"""Assurance metrics on hand-built logs whose values are counted by hand below."""

from __future__ import annotations

import pytest

from palaestra.assurance import Rate, episode_assurance, run_assurance
from palaestra.core import ContractVerdict, Fault
from tests.assurance.builders import LogBuilder


def _episodes():
    # A (job a): a tool timeout, retried successfully; the episode succeeds
    a = LogBuilder("a/t/0/0")
    a.observe()
    a.tool("lookup", "Error: timed out", error=True, fault="timeout")
    a.tool("lookup", "7")
    a.act(text="7")
    a.env_step()
    a.end("success")
    # B (job a): a model error fault never recovered; the episode fails on it
    b = LogBuilder("a/t/1/0")
    b.observe()
    request = b.model(ok=False)
    b.add("agent", Fault(fault="error", target="model"), parent=request)
    b.act(text="?")
    b.env_step()
    b.end()
    # C (job b): injected text at seq 2, a contract violation at seq 4, then a delay
    c = LogBuilder("b/t/0/0")
    c.observe()
    c.add("agent", Fault(fault="inject", target="tool:search"))
    c.act(text="x")
    bad = c.act(text="leak")
    c.add("env", ContractVerdict(contract="no_leak", passed=False, first_violation=bad))
    c.add("agent", Fault(fault="delay", target="model"))
    c.env_step()
    c.end(reason="max_steps")
    # D (job b): a model error ends it; no faults
    d = LogBuilder("b/t/1/0")
    d.observe()
    d.end("error", "error", error="ModelError: down")
    # E (job b): success, no faults
    e = LogBuilder("b/t/2/0")
    e.act(text="ok")
    e.env_step()
    e.end("success")
    # F (job b): the agent's own tool misuse loses it first; an env fault comes later
    f = LogBuilder("b/t/3/0")
    f.observe()
    f.tool("lookup", "Error: no such key", error=True)
    f.act(text="guess")
    f.env_step()
    f.add("env", Fault(fault="error", target="env"))
    f.end()
    return [a, b, c, d, e, f]


def test_each_fault_is_contained_or_propagated_by_the_rule():
    a, b, c, _d, _e, f = _episodes()
    (fa,) = episode_assurance(a.events).faults
    assert (fa.boundary, fa.contained, fa.why) == ("tool", True, "the episode succeeded")
    (fb,) = episode_assurance(b.events).faults
    assert (fb.boundary, fb.contained) == ("model", False)
    assert fb.why == "the failed episode's decisive error"
    c1, c2 = episode_assurance(c.events).faults
    assert (c1.fault, c1.boundary, c1.contained) == ("inject", "tool", False)
    assert c1.why == "contract 'no_leak' violated at seq 4"
    assert (c2.fault, c2.boundary, c2.contained) == ("delay", "model", True)
    (ff,) = episode_assurance(f.events).faults
    assert (ff.boundary, ff.contained) == ("env", True)
    assert ff.why.startswith("the outcome was already lost at seq 2")
    assert episode_assurance(c.events).violations == 1


def test_run_metrics_overall_and_by_job():
    events = [e for b in _episodes() for e in b.events]
    unfinished = LogBuilder("b/t/9/0")
    unfinished.add("agent", Fault(fault="error", target="model"))
    report = run_assurance([*events, *unfinished.events])  # the unfinished one is skipped
    m = report.overall
    assert (m.episodes, m.episodes_with_faults, m.faults) == (6, 4, 5)
    assert m.success_under_faults == Rate(1, 4)
    assert m.success_without_faults == Rate(1, 2)
    assert m.termination_reliability == Rate(4, 6)  # A, B, E, F ended by done
    assert m.ends == {"done": 4, "error": 1, "max_steps": 1}
    assert m.containment == Rate(3, 5)  # A's timeout, C's delay, F's late env fault
    assert m.containment_by_boundary == {
        "env": Rate(1, 1),
        "model": Rate(1, 2),
        "tool": Rate(1, 2),
    }
    assert m.containment_by_fault == {
        "delay": Rate(1, 1),
        "error": Rate(1, 2),
        "inject": Rate(0, 1),
        "timeout": Rate(1, 1),
    }
    low, high = m.containment.interval  # Wilson 95% of 3/5
    assert low == pytest.approx(0.230724, abs=1e-6) and high == pytest.approx(0.882379, abs=1e-6)
    assert list(report.by_job) == ["a", "b"]
    ja, jb = report.by_job["a"], report.by_job["b"]
    assert (ja.episodes, ja.success_under_faults, ja.termination_reliability) == (
        2,
        Rate(1, 2),
        Rate(2, 2),
    )
    assert ja.containment == Rate(1, 2)
    assert (jb.episodes, jb.success_under_faults, jb.containment) == (4, Rate(0, 2), Rate(2, 3))
    assert jb.termination_reliability == Rate(2, 4)
    assert len(report.faults) == 5


def test_rates_describe_and_serialise():
    assert Rate(0, 0).value is None and Rate(0, 0).describe() == "- (0)"
    assert Rate(1, 4).describe() == "1/4 = 25% [5%, 70%]"
    assert Rate(2, 2).to_dict() == {
        "successes": 2,
        "n": 2,
        "rate": 1.0,
        "ci95": [pytest.approx(0.342380, abs=1e-6), 1.0],
    }
    report = run_assurance([e for b in _episodes() for e in b.events])
    lines = report.overall.lines()
    assert lines[0].startswith("termination reliability 4/6 = 67%")
    assert any(line.startswith("containment 3/5 = 60% [23%, 88%]") for line in lines)
    assert "  boundary env: 1/1 = 100% [21%, 100%]" in lines
    assert report.to_dict()["overall"]["containment"]["successes"] == 3


def test_a_run_without_faults_reports_only_termination():
    ok = LogBuilder("j/t/0/0")
    ok.act(text="ok")
    ok.env_step()
    m = run_assurance(ok.end("success")).overall
    assert m.faults == 0 and m.containment == Rate(0, 0)
    assert m.lines() == ["termination reliability 1/1 = 100% [21%, 100%]  (done 1)"]
