"""The airline's generated database and tasks: deterministic, consistent, solvable from
what the customer says."""

from __future__ import annotations

from collections import Counter

import pytest

from palaestra.envs.tooluse import AIRLINE, db_hash
from palaestra.envs.tooluse.airline import INTENTS, generate_database, generate_tasks
from palaestra.envs.tooluse.airline._db import BAG_FEE, FREE_BAGS, INSURANCE_FEE, TODAY, day
from palaestra.envs.tooluse.airline._facts import spoken


def test_same_seed_same_database_and_other_seed_another() -> None:
    assert db_hash(generate_database(3)) == db_hash(generate_database(3))
    assert db_hash(generate_database(3)) != db_hash(generate_database(4))


@pytest.mark.parametrize("seed", [0, 1, 9])
def test_database_is_consistent(seed: int) -> None:
    db = generate_database(seed)
    assert len(db.airports) == 10 and len(db.users) == 50
    for flight in db.flights.values():
        assert flight.origin != flight.destination and flight.departure_time < flight.arrival_time
        for when, entry in flight.dates.items():
            assert (entry.status == "landed") == (when <= day(TODAY))
            prices = entry.prices
            assert prices["basic_economy"] < prices["economy"] < prices["business"]
    owned = [r for user in db.users.values() for r in user.reservations]
    assert sorted(owned) == sorted(db.reservations)
    for r in db.reservations.values():
        user = db.users[r.user_id]
        assert r.reservation_id in user.reservations and len(r.reservation_id) == 6
        legs = [(f.origin, f.destination) for f in r.flights]
        expected = [(r.origin, r.destination), (r.destination, r.origin)][: len(r.flights)]
        assert legs == expected and len(r.flights) == (2 if r.flight_type == "round_trip" else 1)
        assert r.created_at < min(f.date for f in r.flights)
        for leg in r.flights:
            flight = db.flights[leg.flight_number]
            assert (flight.origin, flight.destination) == (leg.origin, leg.destination)
            assert leg.price == flight.dates[leg.date].prices[r.cabin]
        allowance = FREE_BAGS[user.membership][r.cabin] * len(r.passengers)
        assert r.nonfree_baggages == max(0, r.total_baggages - allowance)
        per_person = sum(f.price for f in r.flights) + (INSURANCE_FEE if r.insurance else 0)
        paid = round(per_person * len(r.passengers) + r.nonfree_baggages * BAG_FEE, 2)
        assert r.payment_history[0].amount == paid
        assert r.payment_history[0].payment_id in user.payment_methods
        assert (len(r.payment_history) == 2) == (r.status == "cancelled")
    disrupted = Counter(
        e.status for f in db.flights.values() for e in f.dates.values() if e.status != "landed"
    )
    assert disrupted["delayed"] and disrupted["cancelled"] and disrupted["scheduled"]


def test_tasks_are_deterministic_balanced_and_leave_the_database_alone() -> None:
    db = generate_database(0)
    before = db_hash(db)
    tasks = generate_tasks(db, 0, 22)
    assert db_hash(db) == before
    assert [t.model_dump() for t in tasks] == [t.model_dump() for t in AIRLINE.build_tasks(0, 22)]
    assert [t.instruction for t in tasks] != [t.instruction for t in AIRLINE.build_tasks(1, 22)]
    assert [t.intent for t in tasks] == [*INTENTS, *INTENTS]
    assert [t.id for t in tasks[:2]] == ["cancel-000", "cancel_refused-001"]
    for task in tasks:
        assert task.actions[0].name == "get_user_details"
        assert task.actions[0].arguments["user_id"] in task.instruction


@pytest.mark.parametrize("seed", [2, 6])
def test_instructions_carry_what_the_ground_truth_needs(seed: int) -> None:
    db = generate_database(seed)
    for task in generate_tasks(db, seed, 110):
        user = db.users[task.actions[0].arguments["user_id"]]
        last = task.actions[-1].arguments
        if "reservation_id" in last and task.intent != "passenger":
            assert last["reservation_id"] in task.instruction, task.id
        if "payment_id" in last:
            method = user.payment_methods[last["payment_id"]]
            words = method.last_four if method.source == "credit_card" else "gift card"
            assert words in task.instruction, task.id
        if task.intent == "cancel":
            assert last["reason"] != "other"
        if task.intent == "change_date":
            assert spoken(last["flights"][0]["date"]) in task.instruction
        if task.intent == "passenger":
            r = db.reservations[last["reservation_id"]]
            by_route = spoken(r.flights[0].date) in task.instruction
            assert by_route or r.reservation_id in task.instruction
            changed = [
                p for p in last["passengers"] if p not in [x.model_dump() for x in r.passengers]
            ]
            assert len(changed) == 1 and (
                changed[0]["last_name"] in task.instruction or changed[0]["dob"] in task.instruction
            )
        if task.intent == "book":
            assert db.airports[last["origin"]].city in task.instruction
            assert db.airports[last["destination"]].city in task.instruction
            assert spoken(last["flights"][0]["date"]) in task.instruction
            assert ("With travel insurance" in task.instruction) == last["insurance"]
            for passenger in last["passengers"][1:]:
                assert passenger["dob"] in task.instruction
            assert last["passengers"][0]["dob"] == user.dob, "from the profile"
        if task.intent == "compensation":
            assert last["amount"] == float(task.outputs[0])
