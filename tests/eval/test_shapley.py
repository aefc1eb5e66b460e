"""Shapley attribution: hand-computed games, brute force over every order, the axioms,
sampled estimates, the `shapley:` config and patches, and the real example run
(examples/eval/shapley.yaml: a 3-member vote with right and wrong scripted voters)."""

from __future__ import annotations

from itertools import permutations
from math import factorial
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.config import set_path
from palaestra.core import ConfigError, UserError
from palaestra.eval import (
    banzhaf_values,
    coalitions_needed,
    episode_records,
    shapley_from_records,
    shapley_values,
)
from palaestra.eval._shapley import all_coalitions, coalition_label, parse_coalition
from palaestra.runtime import Experiment
from palaestra.store import Store
from palaestra.studies import run_shapley, shapley_experiment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "eval" / "shapley.yaml"


def glove_game(c: frozenset[str]) -> float:
    """One left glove (L) and two right ones (R1, R2): a pair is worth 1."""
    return float("L" in c and bool({"R1", "R2"} & c))


def test_hand_computed_three_player_game():
    # glove game: phi_L = 2/3, phi_R1 = phi_R2 = 1/6 (textbook)
    result = shapley_values(["L", "R1", "R2"], glove_game)
    assert result.values == pytest.approx({"L": 2 / 3, "R1": 1 / 6, "R2": 1 / 6})
    assert result.method == "shapley (exact)" and result.stderr is None
    assert (result.v_empty, result.v_full) == (0.0, 1.0)
    assert result.efficiency_gap == pytest.approx(0.0)
    assert "(holds)" in result.table() and "sum = 1.0000" in result.table()
    # Banzhaf: L is pivotal in 3 of 4 coalitions of the others, R1 in 1 of 4
    banzhaf = banzhaf_values(["L", "R1", "R2"], glove_game)
    assert banzhaf.values == pytest.approx({"L": 3 / 4, "R1": 1 / 4, "R2": 1 / 4})
    assert banzhaf.total == pytest.approx(5 / 4)
    assert "Banzhaf index" in banzhaf.table() and "not efficient" in banzhaf.table()
    # a mapping works like a function
    table = {c: glove_game(c) for c in all_coalitions(["L", "R1", "R2"])}
    assert shapley_values(["L", "R1", "R2"], table).values == result.values


games = st.integers(1, 5).flatmap(
    lambda n: st.tuples(
        st.just([f"m{i}" for i in range(n)]),
        st.lists(st.floats(-5, 5, allow_nan=False), min_size=2**n, max_size=2**n),
    )
)


def as_table(players, values):
    return dict(zip(all_coalitions(players), values, strict=True))


@settings(max_examples=60)
@given(games)
def test_exact_values_equal_averaging_over_every_order(game):
    players, values = game
    v = as_table(players, values)
    brute = dict.fromkeys(players, 0.0)
    for order in permutations(players):
        before: frozenset[str] = frozenset()
        for p in order:
            brute[p] += v[before | {p}] - v[before]
            before = before | {p}
    result = shapley_values(players, v)
    for p in players:
        assert result.values[p] == pytest.approx(brute[p] / factorial(len(players)), abs=1e-9)
    # efficiency: the values sum to v(N) - v(empty)
    assert result.efficiency_gap == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=40)
@given(games, st.integers(1, 30), st.integers(0, 1000))
def test_sampled_values_are_efficient_and_use_only_needed_coalitions(game, samples, seed):
    players, values = game
    v = as_table(players, values)
    asked: list[frozenset[str]] = []

    def value(c):
        asked.append(c)
        return v[c]

    result = shapley_values(players, value, samples=samples, seed=seed)
    assert result.efficiency_gap == pytest.approx(0.0, abs=1e-9)  # each order telescopes
    assert set(asked) <= set(coalitions_needed(players, samples=samples, seed=seed))
    assert result.stderr is not None and set(result.stderr) == set(players)
    again = shapley_values(players, v, samples=samples, seed=seed)
    assert again.values == result.values  # seeded
    banzhaf = banzhaf_values(players, value, samples=samples, seed=seed)
    needed = coalitions_needed(players, samples=samples, seed=seed, banzhaf=True)
    assert set(banzhaf.coalitions) <= set(needed)


def test_axioms_symmetry_null_player_additivity():
    players = ["a", "b", "c"]

    def u(c):
        return float(len(c) >= 2) + (0.5 if "a" in c else 0.0)

    def w(c):
        return 2.0 * ("b" in c)

    phi_u, phi_w = shapley_values(players, u).values, shapley_values(players, w).values
    both = shapley_values(players, lambda c: u(c) + w(c)).values
    assert phi_w == pytest.approx({"a": 0.0, "b": 2.0, "c": 0.0})  # null players get 0
    assert phi_u["b"] == pytest.approx(phi_u["c"])  # symmetric players are equal
    assert both == pytest.approx({p: phi_u[p] + phi_w[p] for p in players})  # additivity


def test_sampled_estimate_approaches_the_exact_values():
    players = ["L", "R1", "R2"]
    estimate = shapley_values(players, glove_game, samples=3000, seed=7)
    for p, exact in shapley_values(players, glove_game).values.items():
        assert abs(estimate.values[p] - exact) < 4 * estimate.stderr[p] + 1e-9  # type: ignore[index]
    assert estimate.method == "shapley (sampled, 3000 permutations)"


def test_errors_and_labels():
    with pytest.raises(ValueError, match="at least one module"):
        shapley_values([], glove_game)
    with pytest.raises(ValueError, match="named twice"):
        shapley_values(["a", "a"], glove_game)
    with pytest.raises(ValueError, match=r"v is not given for coalition \{a\+b\}"):
        shapley_values(["a", "b"], {frozenset(): 0.0, frozenset({"a"}): 1.0})
    with pytest.raises(ValueError, match="samples must be >= 1"):
        shapley_values(["a"], glove_game, samples=0)
    assert coalition_label({"c", "a"}, ["a", "b", "c"]) == "S=a+c"
    assert coalition_label(set(), ["a"]) == "S=none"
    assert parse_coalition("S=a+c", ["a", "b", "c"]) == {"a", "c"}
    assert parse_coalition("S=none", ["a"]) == frozenset()
    assert parse_coalition("with", ["a"]) is None
    with pytest.raises(ValueError, match="unknown module"):
        parse_coalition("S=z", ["a"])
    assert len(coalitions_needed(["a", "b", "c"])) == 8


def test_set_path_and_config_validation():
    data = {"jobs": [{"operator": {"members": {"a": {"model": "x"}}}}]}
    set_path(data, "jobs.0.operator.members.a.model", "y")
    set_path(data, "jobs.0.operator.members.a.system_prompt", "be brief")  # new last key
    assert data["jobs"][0]["operator"]["members"]["a"] == {
        "model": "y",
        "system_prompt": "be brief",
    }
    with pytest.raises(KeyError, match="jobs.0.operator has no 'memberz'; it has: members"):
        set_path(data, "jobs.0.operator.memberz.a", 1)
    with pytest.raises(KeyError, match="is a list of 1"):
        set_path(data, "jobs.3.operator", 1)
    base = yaml.safe_load(EXAMPLE.read_text())
    bad = {
        **base,
        "shapley": {"modules": {"a": {"test": {"jobs.0.operator.members.zz.model": "right"}}}},
    }
    with pytest.raises(
        ConfigError, match=r"shapley.modules.a.test: .*has no 'zz'; it has: a, b, c"
    ):
        shapley_experiment(Experiment.model_validate(bad))
    shared = {"test": {"jobs.0.label": "x"}}
    with pytest.raises(ValueError, match="also patched by module"):
        Experiment.model_validate({**base, "shapley": {"modules": {"a": shared, "b": shared}}})
    with pytest.raises(ValueError, match="not 'none'"):
        Experiment.model_validate({**base, "shapley": {"modules": {"none": shared}}})
    with pytest.raises(UserError, match="no `shapley:` block"):
        shapley_experiment(Experiment.model_validate({**base, "shapley": None}))


def test_example_run_gives_the_hand_computed_values(tmp_path):
    combined, needed = shapley_experiment(EXAMPLE)
    assert len(needed) == 8 and len(combined.jobs) == 8
    assert [job.label for job in combined.jobs][:2] == ["vote@S=none", "vote@S=a"]
    outcome = run_shapley(EXAMPLE, store=tmp_path / "runs.db", banzhaf=True)
    assert outcome.shapley.values == pytest.approx({"a": 2 / 3, "b": 1 / 6, "c": 1 / 6})
    assert outcome.shapley.efficiency_gap == pytest.approx(0.0)
    assert outcome.banzhaf is not None
    assert outcome.banzhaf.values == pytest.approx({"a": 3 / 4, "b": 1 / 4, "c": 1 / 4})
    v = outcome.shapley.coalitions
    assert v[frozenset()] == 0.0 and v[frozenset({"a"})] == 1.0 and v[frozenset({"b"})] == 0.0
    assert v[frozenset({"b", "c"})] == 1.0
    with Store(outcome.result.store_path) as store:
        records = episode_records(store, outcome.result.run_id)
        stored = store.get_run(outcome.result.run_id)
    assert len(records) == 16  # 8 configurations x 2 seeds
    assert stored is not None and list(stored.experiment["shapley"]["modules"]) == ["a", "b", "c"]
    again = shapley_from_records(records, ["a", "b", "c"])
    assert again.values == outcome.shapley.values


def test_sampled_run_runs_only_the_needed_coalitions(tmp_path):
    outcome = run_shapley(EXAMPLE, store=tmp_path / "runs.db", samples=2)
    jobs = {r.episode_id.split("/")[0] for r in outcome.result.episodes}
    assert len(jobs) == len(outcome.shapley.coalitions) <= 6  # 2 orders: at most 2 + 2*2
    assert outcome.shapley.method == "shapley (sampled, 2 permutations)"
    assert outcome.shapley.efficiency_gap == pytest.approx(0.0)
    assert sum(outcome.shapley.values.values()) == pytest.approx(1.0)
