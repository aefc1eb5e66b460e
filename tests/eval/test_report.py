"""The HTML report (`palaestra.eval.build_report`): self-contained (no external URL, no
script), with tables whose numbers are the metrics functions' output, inline SVG plots,
Shapley bars for a Shapley run, the paired comparison of two runs, learning curves."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from palaestra.eval import build_report, episode_records, metrics, paired_compare, write_report
from palaestra.eval._svg import bar_chart, line_chart, scatter
from palaestra.runtime import run
from palaestra.store import Store
from palaestra.studies import run_shapley

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "eval"


def table_after(html: str, heading: str) -> dict[str, dict[str, str]]:
    """{group: {data-key: text}} of the first table after `heading`."""
    start = html.index(heading)
    end = html.index("</table>", start)
    rows = {}
    for group, body in re.findall(r'<tr data-group="([^"]*)">(.*?)</tr>', html[start:end]):
        cells = re.findall(r'<td data-key="([^"]+)">([^<]*)</td>', body)
        rows[unescape(group)] = {key: unescape(text) for key, text in cells}
    return rows


def assert_self_contained(html: str) -> None:
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html


@pytest.fixture(scope="module")
def store_with_runs(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "runs.db"
    passk = run(EXAMPLES / "passk.yaml", store=path, run_id="passk")
    again = run(EXAMPLES / "passk.yaml", store=path, run_id="passk-again")
    shapley = run_shapley(EXAMPLES / "shapley.yaml", store=path, run_id="shap")
    return path, passk.run_id, again.run_id, shapley


def test_report_tables_equal_the_metrics(store_with_runs, tmp_path):
    path, run_id, _again, _ = store_with_runs
    with Store(path) as store:
        out = write_report(store, [run_id], tmp_path / "r" / "report.html", group_by=["seed"])
        records = episode_records(store, run_id)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert_self_contained(html)
    by_job = table_after(html, "<h3>By configuration (job)</h3>")
    expected = {m.group: m for m in metrics(records, group_by="job")}
    assert set(by_job) == {"steady", "shaky"}
    for group, m in expected.items():
        cells = by_job[group]
        assert cells["episodes"] == str(m.episodes)
        assert cells["success"] == f"{m.success.value:.3f}"
        assert cells["success_ci"] == f"[{m.success.low:.3f}, {m.success.high:.3f}]"
        assert m.score is not None
        assert cells["score_ci"] == f"[{m.score.low:.3f}, {m.score.high:.3f}]"
        for k in (1, 2, 5, 10):
            assert cells[f"pass@{k}"] == f"{m.pass_at_k[k]:.3f}"
            assert cells[f"pass^{k}"] == f"{m.pass_hat_k[k]:.3f}"
            assert cells[f"avg@{k}"] == f"{m.avg_at_k[k]:.3f}"
        assert cells["tokens"] == f"{m.tokens:.1f}" and cells["cost"] == "-"
        assert cells["tool_calls"] == f"{m.tool_calls:.2f}"
    by_seed = table_after(html, "<h3>By seed</h3>")
    assert set(by_seed) == {"0", "1"}
    (overall,) = metrics(records)
    summary = table_after(html, "<h3>Summary</h3>")
    assert summary[run_id]["success"] == f"{overall.success.value:.3f}"
    # plots: success with CI bars, cost vs success, pass@k by k
    assert html.count("<svg") >= 3
    for title in ("success by configuration", "cost vs success", "pass@k by k"):
        assert f"<title>{title}</title>" in html
    assert "Shapley" not in html and "Paired comparison" not in html


def test_shapley_run_gets_bars_and_the_efficiency_check(store_with_runs):
    path, _, _, shapley = store_with_runs
    with Store(path) as store:
        html = build_report(store, [shapley.result.run_id])
    assert_self_contained(html)
    assert "<h3>Shapley attribution</h3>" in html
    values = table_after(html, "Shapley values — shapley (exact)")
    assert {p: float(c["value"]) for p, c in values.items()} == pytest.approx(
        {"a": 2 / 3, "b": 1 / 6, "c": 1 / 6}, abs=1e-4
    )
    assert "v(all test) - v(all default) = 1.0000 - 0.0000 = 1.0000 (holds)" in html
    banzhaf = table_after(html, "Banzhaf indices — banzhaf (exact)")  # exact runs show both
    assert float(banzhaf["a"]["value"]) == pytest.approx(0.75, abs=1e-4)
    assert "<title>Shapley values (shapley (exact))</title>" in html


def test_two_runs_are_compared_and_curves_drawn(store_with_runs):
    path, a, b, _ = store_with_runs
    curves = {"reward": [(0, 0.1), (10, 0.4), (20, 0.7)], "kl": [(0, 0.0), (20, 0.2)]}
    with Store(path) as store:
        html = build_report(store, [a, b], learning_curves=curves, title="two runs")
        records_a, records_b = episode_records(store, a), episode_records(store, b)
    assert_self_contained(html)
    assert "<h1>two runs</h1>" in html and "<h2>Across runs</h2>" in html
    across = table_after(html, "<h2>Across runs</h2>")
    assert set(across) == {a, b}
    comparison = paired_compare(records_a, records_b, labels=(a, b))
    assert comparison.mean_difference == 0.0  # same experiment, same seed: same episodes
    assert f"difference {comparison.mean_difference:+.3f}" in html
    assert "<h2>Learning curves</h2>" in html and "<title>reward</title>" in html


def test_report_errors(store_with_runs):
    path, *_ = store_with_runs
    with Store(path) as store:
        with pytest.raises(ValueError, match="no run 'nope'"):
            build_report(store, ["nope"])
        with pytest.raises(ValueError, match="at least one run"):
            build_report(store, [])
        with pytest.raises(ValueError, match="unknown group field"):
            build_report(store, ["passk"], group_by=["colour"])


def test_svg_helpers_are_plain_inline_svg():
    bars = bar_chart("t", ["a", "b<"], [0.5, -0.25], lows=[0.4, -0.3], highs=[0.6, -0.2])
    assert bars.startswith("<svg") and bars.endswith("</svg>") and "b&lt;" in bars
    assert bars.count("<rect") == 2 and bars.count('class="err"') == 6
    assert "no data" in scatter("empty", []) and "no data" in line_chart("empty", {})
    assert scatter("s", [("p", 1.0, 0.5)]).count("<circle") == 1
    assert bar_chart("same", ["x"], [0.3]) == bar_chart("same", ["x"], [0.3])  # deterministic
