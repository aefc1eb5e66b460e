"""`palaestra report`: one self-contained HTML file over one or more stored runs.

What it holds, per run: the run's identity, the overall metrics with confidence
intervals, a breakdown per configuration (job label) and per any other group field,
plots (success by configuration with CI bars, cost or tokens vs success, pass@k by k),
and the Shapley values when the run is a Shapley run (`palaestra shapley`). Across two
runs: success by run and the paired comparison of the second run against the first.
`learning_curves` (named series of (step, value)) adds a learning-curve plot: the hook
training feeds.

Self-contained: CSS inline, plots are inline SVG drawn by `palaestra.eval._svg`, no
script, no external URL. Every number comes from `palaestra.eval.metrics` (tables mark
each cell with `data-key` and each row with `data-group` so tests can read them back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

from palaestra.core import atomic_write
from palaestra.eval import _svg
from palaestra.eval._metrics import GroupMetrics, metrics
from palaestra.eval._paired import PairedComparison, paired_compare
from palaestra.eval._records import EpisodeRecord, episode_records
from palaestra.eval._shapley import Attribution, shapley_from_records, shapley_seed
from palaestra.store import RunRow, Store

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1180px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin-top:20px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:12.5px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f4f5f7}td:first-child,th:first-child{text-align:left}
.note{color:#666;font-size:12px}.plots{display:flex;flex-wrap:wrap;gap:12px}
svg.plot{border:1px solid #eee;background:#fff}
.grid{stroke:#eee}.axis{stroke:#444}.err{stroke:#222;stroke-width:1.5}
.tick{font-size:10px;fill:#444}.axis-label{font-size:11px;fill:#222}
.plot-title{font-size:13px;font-weight:600}.wide{overflow-x:auto;max-width:100%}
"""


def run_attribution(run: RunRow, records: Sequence[EpisodeRecord]) -> list[Attribution]:
    """The Shapley values (and the Banzhaf indices when the run asked for them) of a
    Shapley run, from its stored experiment's `shapley:` block; [] for other runs."""
    block = (run.experiment or {}).get("shapley")
    if not isinstance(block, dict) or not block.get("modules"):
        return []
    players = list(block["modules"])
    options: dict[str, Any] = {
        "value": block.get("value", "success"),
        "samples": block.get("samples"),
        "seed": shapley_seed(run.seed),
    }
    out = [shapley_from_records(records, players, **options)]
    exact = options["samples"] is None
    if block.get("banzhaf") or exact:
        out.append(shapley_from_records(records, players, banzhaf=True, **options))
    return out


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _cell(key: str, text: str) -> str:
    return f'<td data-key="{key}">{escape(text)}</td>'


def metrics_html(rows: Sequence[GroupMetrics], *, caption: str = "group") -> str:
    """A table of metrics, one group a row (cells carry `data-key`)."""
    ks = sorted({k for m in rows for k in m.pass_at_k})
    head = [
        caption,
        "episodes",
        "tasks",
        "success",
        "95% CI",
        "mean score",
        "score CI",
        *(f"pass@{k}" for k in ks),
        *(f"pass^{k}" for k in ks),
        *(f"avg@{k}" for k in ks),
        "tokens/ep",
        "in/out",
        "cost/ep $",
        "latency s",
        "p50/p95 s",
        "calls/ep",
        "steps/ep",
        "tools/ep",
    ]
    out = ["<div class='wide'><table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head)]
    out[0] += "</tr>"
    for m in rows:
        cells = [
            f"<td>{escape(m.group)}</td>",
            _cell("episodes", str(m.episodes)),
            _cell("tasks", str(m.tasks)),
            _cell("success", f"{m.success.value:.3f}"),
            _cell("success_ci", f"[{m.success.low:.3f}, {m.success.high:.3f}]"),
            _cell("score", _fmt(m.score.value if m.score else None)),
            _cell(
                "score_ci", "-" if m.score is None else f"[{m.score.low:.3f}, {m.score.high:.3f}]"
            ),
            *(_cell(f"pass@{k}", _fmt(m.pass_at_k.get(k))) for k in ks),
            *(_cell(f"pass^{k}", _fmt(m.pass_hat_k.get(k))) for k in ks),
            *(_cell(f"avg@{k}", _fmt(m.avg_at_k.get(k))) for k in ks),
            _cell("tokens", f"{m.tokens:.1f}"),
            _cell("in_out", f"{m.input_tokens:.1f} / {m.output_tokens:.1f}"),
            _cell("cost", _fmt(m.cost_usd, ".5f")),
            _cell("latency", _fmt(m.latency_s, ".4f")),
            _cell("latency_p", f"{_fmt(m.latency_p50_s, '.4f')} / {_fmt(m.latency_p95_s, '.4f')}"),
            _cell("model_calls", f"{m.model_calls:.2f}"),
            _cell("steps", f"{m.steps:.2f}"),
            _cell("tool_calls", f"{m.tool_calls:.2f}"),
        ]
        out.append(f'<tr data-group="{escape(m.group)}">' + "".join(cells) + "</tr>")
    return "".join(out) + "</table></div>"


def _success_plot(title: str, rows: Sequence[GroupMetrics]) -> str:
    return _svg.bar_chart(
        title,
        [m.group for m in rows],
        [m.success.value for m in rows],
        lows=[m.success.low for m in rows],
        highs=[m.success.high for m in rows],
        y_label="success rate (95% Wilson CI)",
        y_range=(0.0, 1.0),
    )


def _cost_plot(title: str, rows: Sequence[GroupMetrics]) -> str:
    with_cost = all(m.cost_usd is not None for m in rows)
    points = [
        (m.group, (m.cost_usd or 0.0) if with_cost else m.tokens, m.success.value) for m in rows
    ]
    x_label = "cost per episode (USD)" if with_cost else "tokens per episode (no cost reported)"
    return _svg.scatter(title, points, x_label=x_label, y_label="success rate", y_range=(0, 1))


def _passk_plot(rows: Sequence[GroupMetrics]) -> str | None:
    series = {m.group: [(float(k), v) for k, v in m.pass_at_k.items()] for m in rows}
    series = {name: points for name, points in series.items() if len(points) >= 2}
    series = dict(list(series.items())[:12])
    if not series:
        return None
    return _svg.line_chart("pass@k by k", series, x_label="k", y_label="pass@k", y_range=(0, 1))


def shapley_html(attribution: Attribution) -> str:
    """A table of values with the efficiency check, and the bars."""
    name = "Banzhaf index" if attribution.is_banzhaf else "Shapley value"
    plural = "Banzhaf indices" if attribution.is_banzhaf else "Shapley values"
    rows = "".join(
        f'<tr data-group="{escape(p)}"><td>{escape(p)}</td>'
        + _cell("value", f"{attribution.values[p]:.4f}")
        + (_cell("stderr", f"{attribution.stderr[p]:.4f}") if attribution.stderr else "")
        + "</tr>"
        for p in attribution.players
    )
    head = f"<tr><th>module</th><th>{name}</th>" + (
        "<th>std. error</th></tr>" if attribution.stderr else "</tr>"
    )
    check = escape(attribution.table().splitlines()[-1])
    coalitions = "".join(
        f"<tr><td>{escape('+'.join(p for p in attribution.players if p in c) or '∅')}</td>"
        f"<td>{v:.4f}</td></tr>"
        for c, v in sorted(
            attribution.coalitions.items(), key=lambda cv: (len(cv[0]), sorted(cv[0]))
        )
    )
    bars = _svg.bar_chart(
        f"{plural} ({attribution.method})",
        attribution.players,
        [attribution.values[p] for p in attribution.players],
        y_label=name,
    )
    return (
        f"<h3>{escape(plural)} — {escape(attribution.method)}</h3>"
        f"<table>{head}{rows}</table><p class='note'>{check}</p>"
        f"<div class='plots'>{bars}<table><tr><th>coalition S (test variant)</th>"
        f"<th>v(S)</th></tr>{coalitions}</table></div>"
    )


def paired_html(comparison: PairedComparison) -> str:
    """The paired comparison: summary, tests, and the per-trial differences."""
    tests = "".join(
        f"<tr><td>{escape(t.name)}</td>{_cell('statistic', f'{t.statistic:.4f}')}"
        f"{_cell('p', f'{t.p_value:.4g}')}<td>{t.n}</td><td>{escape(t.method)}</td></tr>"
        for t in comparison.tests
    )
    pairs = "".join(
        f"<tr><td>{escape(p.key)}</td><td>{p.a:.3f}</td><td>{p.b:.3f}</td>"
        f"<td>{p.difference:+.3f}</td></tr>"
        for p in comparison.pairs
    )
    only = ""
    if comparison.only_a or comparison.only_b:
        only = (
            f"<p class='note'>only in {escape(comparison.label_a)}: "
            f"{escape(', '.join(comparison.only_a) or '-')}; only in "
            f"{escape(comparison.label_b)}: {escape(', '.join(comparison.only_b) or '-')}</p>"
        )
    return (
        f"<h3>Paired {escape(comparison.metric)}: {escape(comparison.label_a)} − "
        f"{escape(comparison.label_b)}</h3>"
        f"<pre>{escape(comparison.describe())}</pre>"
        "<table><tr><th>test</th><th>statistic</th><th>p</th><th>n</th><th>method</th></tr>"
        f"{tests}</table>{only}<details><summary>per task trial</summary><table><tr>"
        "<th>trial</th><th>a</th><th>b</th><th>a − b</th></tr>"
        f"{pairs}</table></details>"
    )


def build_report(
    store: Store,
    run_ids: Sequence[str],
    *,
    group_by: Sequence[str] = (),
    learning_curves: Mapping[str, Sequence[tuple[float, float]]] | None = None,
    title: str | None = None,
    seed: int = 0,
) -> str:
    """The report as HTML text (see the module docstring). `group_by`: further group
    fields (besides the job) to break each run down by."""
    if not run_ids:
        raise ValueError("give at least one run")
    runs = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is None:
            raise ValueError(f"no run {run_id!r} in store {store.path}")
        runs.append((run, episode_records(store, run_id)))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title or 'palaestra report')}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title or 'palaestra report')}</h1>",
        "<table><tr><th>run</th><th>name</th><th>seed</th><th>status</th>"
        "<th>finished episodes</th></tr>",
    ]
    for run, records in runs:
        parts.append(
            f"<tr><td>{escape(run.run_id)}</td><td>{escape(run.name)}</td><td>{run.seed}</td>"
            f"<td>{escape(run.status)}</td><td>{len(records)}</td></tr>"
        )
    parts.append("</table>")
    overall_rows = []
    for run, records in runs:
        parts.append(f"<h2>Run {escape(run.run_id)}</h2>")
        if not records:
            parts.append("<p>no finished episodes</p>")
            continue
        (overall,) = metrics(records, seed=seed)
        overall = replace(overall, group=run.run_id)
        overall_rows.append(overall)
        parts += ["<h3>Summary</h3>", metrics_html([overall], caption="run")]
        by_job = metrics(records, group_by="job", seed=seed)
        parts += ["<h3>By configuration (job)</h3>", metrics_html(by_job, caption="job")]
        for name in group_by:
            rows = metrics(records, group_by=name, seed=seed)
            parts += [f"<h3>By {escape(name)}</h3>", metrics_html(rows, caption=name)]
        plots = [
            _success_plot("success by configuration", by_job),
            _cost_plot("cost vs success", by_job),
        ]
        passk = _passk_plot(by_job)
        if passk:
            plots.append(passk)
        parts.append("<div class='plots'>" + "".join(plots) + "</div>")
        attributions = run_attribution(run, records)
        if attributions:
            parts.append("<h3>Shapley attribution</h3>")
            parts += [shapley_html(a) for a in attributions]
    if len(runs) > 1 and overall_rows:
        parts += [
            "<h2>Across runs</h2>",
            metrics_html(overall_rows, caption="run"),
            "<div class='plots'>",
            _success_plot("success by run", overall_rows),
            _cost_plot("cost vs success by run", overall_rows),
            "</div>",
        ]
    if len(runs) == 2 and all(records for _, records in runs):
        (run_a, a), (run_b, b) = runs
        labels = (run_a.run_id, run_b.run_id)
        parts.append("<h2>Paired comparison</h2>")
        try:
            parts.append(paired_html(paired_compare(a, b, labels=labels, seed=seed)))
            if any(r.score is not None for r in a + b):
                parts.append(
                    paired_html(paired_compare(a, b, metric="score", labels=labels, seed=seed))
                )
        except ValueError as exc:
            parts.append(f"<p class='note'>no paired comparison: {escape(str(exc))}</p>")
    if learning_curves:
        parts += [
            "<h2>Learning curves</h2>",
            _svg.line_chart("learning curves", learning_curves, x_label="step", y_label="value"),
        ]
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(store: Store, run_ids: Sequence[str], path: str | Path, **options: Any) -> Path:
    """`build_report` written to `path` (UTF-8, atomically: a crash leaves the old file or
    none); returns the path."""
    out = Path(path)
    html = build_report(store, run_ids, **options)
    with atomic_write(out, make_parents=True) as fp:
        fp.write(html)
    return out
