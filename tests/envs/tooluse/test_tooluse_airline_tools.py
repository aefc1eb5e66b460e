"""The airline's tools: what they change, hand-checked amounts, and the error text they
return for calls the database forbids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from palaestra.envs.tooluse import AIRLINE, db_hash
from palaestra.envs.tooluse.airline import AirlineDB, generate_database
from palaestra.envs.tooluse.airline._db import TODAY, Reservation, day


def _find(predicate: Callable[[AirlineDB, Reservation], bool]) -> tuple[AirlineDB, Reservation]:
    """A fresh database (of the first seed that has one) and a reservation matching it."""
    for seed in range(30):
        db = generate_database(seed)
        for reservation in db.reservations.values():
            if predicate(db, reservation):
                return db, reservation
    raise AssertionError("no reservation matches")


def _open(db: AirlineDB, r: Reservation) -> bool:
    return r.status == "active" and all(f.date > day(TODAY) for f in r.flights)


def _run(db: AirlineDB, name: str, **arguments: Any) -> str:
    outcome = AIRLINE.execute(db, name, arguments)
    assert not outcome.error, outcome.content
    return outcome.content


def _fails(db: AirlineDB, name: str, expected: str, **arguments: Any) -> None:
    before = db_hash(db)
    outcome = AIRLINE.execute(db, name, arguments)
    assert outcome.error and expected in outcome.content, outcome.content
    assert db_hash(db) == before


def test_thirteen_tools_with_object_schemas() -> None:
    assert len(AIRLINE.tools) == 13
    assert [t.name for t in AIRLINE.tools if t.terminates] == ["transfer_to_human_agents"]
    for tool in AIRLINE.tools:
        assert tool.parameters["type"] == "object" and tool.description


def test_lookups() -> None:
    db = generate_database(0)
    airports = json.loads(_run(db, "list_airports"))
    assert {"code": "JFK", "city": "New York"} in airports and len(airports) == 10
    flight = next(iter(db.flights.values()))
    when = "2024-05-20"
    found = json.loads(
        _run(db, "search_direct_flights", origin=flight.origin, destination=flight.destination,
             date=when)
    )  # fmt: skip
    expected = [
        f.flight_number
        for f in db.flights.values()
        if (f.origin, f.destination) == (flight.origin, flight.destination)
        and f.dates[when].status == "scheduled"
    ]
    assert [f["flight_number"] for f in found] == expected
    status = json.loads(_run(db, "get_flight_status", flight_number=flight.flight_number,
                             date="2024-05-10"))  # fmt: skip
    assert status["status"] == "landed" and status["departure_time"] == flight.departure_time
    _fails(db, "search_direct_flights", "list_airports", origin="NYC", destination="LAX",
           date=when)  # fmt: skip
    _fails(db, "get_flight_status", "does not fly", flight_number=flight.flight_number,
           date="2024-06-01")  # fmt: skip


def test_book_charges_flights_insurance_and_paid_bags_to_a_gift_card() -> None:
    db = generate_database(0)
    user = next(
        u for u in db.users.values()
        if u.membership == "regular" and any(m.source == "gift_card" and (m.amount or 0) > 400
                                             for m in u.payment_methods.values())
    )  # fmt: skip
    gift = next(m for m in user.payment_methods.values() if m.source == "gift_card")
    balance = gift.amount or 0.0
    flight, when = next(
        (f, "2024-05-25")
        for f in db.flights.values()
        if f.dates["2024-05-25"].status == "scheduled"
        and f.dates["2024-05-25"].available_seats["economy"] >= 2
        and f.dates["2024-05-25"].prices["economy"] < 100
    )
    seats = flight.dates[when].available_seats["economy"]
    price = flight.dates[when].prices["economy"]
    me = {"first_name": user.name.first_name, "last_name": user.name.last_name, "dob": user.dob}
    friend = {"first_name": "Alex", "last_name": "Kim", "dob": "1990-01-02"}
    made = json.loads(
        _run(db, "book_reservation", user_id=user.user_id, origin=flight.origin,
             destination=flight.destination, flight_type="one_way", cabin="economy",
             flights=[{"flight_number": flight.flight_number, "date": when}],
             passengers=[me, friend], payment_id=gift.id, total_baggages=3,
             nonfree_baggages=1, insurance=True)
    )  # fmt: skip
    total = round(2 * (price + 30) + 50, 2)  # regular economy: 1 free bag each, 3 - 2 paid
    assert made["payment_history"] == [{"kind": "payment", "amount": total, "payment_id": gift.id}]
    assert gift.amount == round(balance - total, 2)
    assert flight.dates[when].available_seats["economy"] == seats - 2
    assert user.reservations[-1] == made["reservation_id"] and made["status"] == "active"
    assert made["created_at"] == "2024-05-15T15:00:00"


def test_book_refuses_what_the_database_cannot_do() -> None:
    db = generate_database(0)
    user = next(iter(db.users.values()))
    card = next(m for m in user.payment_methods.values() if m.source == "credit_card")
    flight = next(iter(db.flights.values()))
    me = {"first_name": "A", "last_name": "B", "dob": "1990-01-01"}

    def book(**changes: Any) -> dict[str, Any]:
        return {
            "user_id": user.user_id, "origin": flight.origin,
            "destination": flight.destination, "flight_type": "one_way", "cabin": "economy",
            "flights": [{"flight_number": flight.flight_number, "date": "2024-05-27"}],
            "passengers": [me], "payment_id": card.id, "total_baggages": 0,
            "nonfree_baggages": 0, "insurance": False, **changes,
        }  # fmt: skip

    past = [{"flight_number": flight.flight_number, "date": "2024-05-10"}]
    _fails(db, "book_reservation", "is landed", **book(flights=past))
    _fails(
        db, "book_reservation", "round_trip trip has 2 flight(s)", **book(flight_type="round_trip")
    )
    _fails(db, "book_reservation", "must fly", **book(origin=flight.destination,
                                                      destination=flight.origin))  # fmt: skip
    _fails(db, "book_reservation", "cannot exceed", **book(nonfree_baggages=1))
    _fails(db, "book_reservation", "not found for this user", **book(payment_id="credit_card_1"))
    _fails(db, "book_reservation", "flights[0].date' must match",
           **book(flights=[{"flight_number": flight.flight_number, "date": "May 27"}]))  # fmt: skip
    _fails(db, "book_reservation", "missing required argument(s): passengers[0].dob",
           **book(passengers=[{"first_name": "A", "last_name": "B"}]))  # fmt: skip
    _fails(db, "book_reservation", "at most 5", **book(passengers=[me] * 6))


def test_cancel_refunds_each_method_and_releases_seats() -> None:
    db, r = _find(
        lambda db, r: (
            _open(db, r)
            and db.users[r.user_id].payment_methods[r.payment_history[0].payment_id].source
            == "gift_card"
            and all(
                db.flights[f.flight_number].dates[f.date].status == "scheduled" for f in r.flights
            )
        )
    )
    gift = db.users[r.user_id].payment_methods[r.payment_history[0].payment_id]
    balance, paid = gift.amount or 0.0, r.payment_history[0].amount
    leg = r.flights[0]
    seats = db.flights[leg.flight_number].dates[leg.date].available_seats[r.cabin]
    _run(db, "cancel_reservation", reservation_id=r.reservation_id, reason="health")
    assert r.status == "cancelled" and r.cancel_reason == "health"
    assert gift.amount == round(balance + paid, 2)
    assert r.payment_history[-1].kind == "refund" and r.payment_history[-1].amount == paid
    assert db.flights[leg.flight_number].dates[leg.date].available_seats[r.cabin] == seats + len(
        r.passengers
    )
    _fails(db, "cancel_reservation", "is cancelled", reservation_id=r.reservation_id,
           reason="health")  # fmt: skip
    db2, flown = _find(lambda db, r: r.status == "active" and r.flights[0].date <= day(TODAY))
    _fails(db2, "cancel_reservation", "already flew", reservation_id=flown.reservation_id,
           reason="other")  # fmt: skip


def test_upgrade_charges_the_difference_for_every_passenger() -> None:
    db, r = _find(
        lambda db, r: (
            _open(db, r)
            and r.cabin == "economy"
            and len(r.passengers) == 2
            and all(
                db.flights[f.flight_number].dates[f.date].status == "scheduled"
                and db.flights[f.flight_number].dates[f.date].available_seats["business"] >= 2
                for f in r.flights
            )
        )
    )
    card = next(m for m in db.users[r.user_id].payment_methods.values()
                if m.source == "credit_card")  # fmt: skip
    legs = [{"flight_number": f.flight_number, "date": f.date} for f in r.flights]
    new = [db.flights[f.flight_number].dates[f.date].prices["business"] for f in r.flights]
    expected = round((sum(new) - sum(f.price for f in r.flights)) * 2, 2)
    _run(db, "update_reservation_flights", reservation_id=r.reservation_id, cabin="business",
         flights=legs, payment_id=card.id)  # fmt: skip
    assert r.cabin == "business" and [f.price for f in r.flights] == new
    assert r.payment_history[-1].model_dump() == {
        "kind": "payment",
        "amount": expected,
        "payment_id": card.id,
    }
    again = {"cabin": "business", "flights": legs, "payment_id": card.id}
    _fails(db, "update_reservation_flights", "already has these flights",
           reservation_id=r.reservation_id, **again)  # fmt: skip


def test_bags_can_only_be_added_and_the_paid_ones_cost_fifty() -> None:
    db, r = _find(lambda db, r: _open(db, r) and r.total_baggages >= 1)
    card = next(m for m in db.users[r.user_id].payment_methods.values()
                if m.source == "credit_card")  # fmt: skip
    total, paid = r.total_baggages, r.nonfree_baggages

    def bags(t: int, n: int) -> dict[str, Any]:
        return {"reservation_id": r.reservation_id, "total_baggages": t,
                "nonfree_baggages": n, "payment_id": card.id}  # fmt: skip

    _fails(db, "update_reservation_baggages", "can only be added", **bags(total - 1, paid))
    _fails(db, "update_reservation_baggages", "nothing to change", **bags(total, paid))
    _fails(db, "update_reservation_baggages", "cannot exceed", **bags(total + 1, total + 2))
    _run(db, "update_reservation_baggages", **bags(total + 2, paid + 2))
    assert (r.total_baggages, r.nonfree_baggages) == (total + 2, paid + 2)
    assert r.payment_history[-1].amount == 100.0


def test_passengers_keep_their_number() -> None:
    db, r = _find(lambda db, r: _open(db, r) and len(r.passengers) >= 2)
    fixed = [p.model_dump() for p in r.passengers]
    fixed[1]["last_name"] = "Corrected"
    _fails(db, "update_reservation_passengers", "cannot change",
           reservation_id=r.reservation_id, passengers=fixed[:1])  # fmt: skip
    _run(db, "update_reservation_passengers", reservation_id=r.reservation_id, passengers=fixed)
    assert r.passengers[1].last_name == "Corrected"


def test_certificates_are_numbered_payment_methods() -> None:
    db = generate_database(0)
    user = next(iter(db.users.values()))
    _run(db, "send_certificate", user_id=user.user_id, amount=150)
    _run(db, "send_certificate", user_id=user.user_id, amount=50.0)
    made = {k: m.amount for k, m in user.payment_methods.items() if k.startswith("certificate_9")}
    assert made == {"certificate_9000001": 150.0, "certificate_9000002": 50.0}
    _fails(db, "send_certificate", "at least 1", user_id=user.user_id, amount=0)
    _fails(db, "send_certificate", "not found", user_id="nobody", amount=10)


@pytest.mark.parametrize(
    ("expression", "result"),
    [("2 * (120 + 30)", "300.00"), ("-1.5 + 10 / 4", "1.00"), ("7", "7.00")],
)
def test_calculate(expression: str, result: str) -> None:
    assert _run(generate_database(0), "calculate", expression=expression) == result


@pytest.mark.parametrize("expression", ["__import__('os')", "1 / 0", "2 ** 8", "x + 1", "1 +"])
def test_calculate_refuses_anything_but_arithmetic(expression: str) -> None:
    _fails(generate_database(0), "calculate", "cannot calculate", expression=expression)
