"""`palaestra shapley EXPERIMENT [--samples N] [--banzhaf]`: runs every coalition of the
`shapley:` modules as one run and prints v(S), the values and the efficiency check."""

from __future__ import annotations

import re
from pathlib import Path

from palaestra.cli._main import main
from palaestra.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eval" / "shapley.yaml"


def values_of(out: str, label: str) -> dict[str, float]:
    block = out.split(label, 1)[1]
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\w+)\s+(-?\d+\.\d{4})$", block, re.M)}


def test_shapley_command_prints_exact_values_and_banzhaf(tmp_path, capsys):
    store = str(tmp_path / "runs.db")
    argv = ["shapley", str(EXAMPLE), "--store", store, "--run-id", "s", "--banzhaf", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "shapley: 3 modules, 8 configurations" in out
    assert re.search(r"^  a\s+1\.0000$", out, re.M) and re.search(r"^  b\s+0\.0000$", out, re.M)
    shapley = values_of(out.split("Banzhaf index")[0], "Shapley value")
    assert shapley == {"a": 0.6667, "b": 0.1667, "c": 0.1667}
    assert "efficiency: sum = 1.0000; v(all test) - v(all default) = 1.0000 - 0.0000" in out
    assert "(holds)" in out and "method: shapley (exact)" in out
    assert values_of(out, "Banzhaf index") == {"a": 0.75, "b": 0.25, "c": 0.25}
    assert "not efficient" in out
    with Store(store) as db:
        jobs = {r.episode_id.split("/")[0] for r in db.episodes("s")}
    assert jobs == {f"vote@S={s}" for s in ("none", "a", "b", "c", "a+b", "a+c", "b+c", "a+b+c")}
    # the same run id resumes: nothing runs again, the same values
    assert main(argv) == 0
    assert values_of(capsys.readouterr().out.split("Banzhaf index")[0], "Shapley value") == shapley


def test_shapley_command_samples_and_errors(tmp_path, capsys):
    store = str(tmp_path / "runs.db")
    assert main(["shapley", str(EXAMPLE), "--store", store, "--samples", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "method: shapley (sampled, 2 permutations)" in out and "std. error" in out
    assert "(holds)" in out
    assert main(["shapley", str(EXAMPLE), "--store", store, "--samples", "0"]) == 2
    assert "--samples 0: expected a whole number of at least 1" in capsys.readouterr().err
    plain = tmp_path / "plain.yaml"
    plain.write_text(EXAMPLE.read_text().split("shapley:")[0])
    assert main(["shapley", str(plain), "--store", store]) == 2
    assert "no `shapley:` block" in capsys.readouterr().err
