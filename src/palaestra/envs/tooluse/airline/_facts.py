"""What the airline's task generator knows and says: which reservations are open,
refundable, compensable or changeable (`ELIGIBLE`, the subjects of each intent), the
price of a change, and how a customer words dates, payment methods and reservations.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from palaestra.envs.tooluse._domain import ExpectedCall
from palaestra.envs.tooluse.airline._db import (
    LAST_DAY,
    TODAY,
    AirlineDB,
    Cabin,
    PaymentMethod,
    Reservation,
    User,
    day,
)


def call(name: str, **arguments: Any) -> ExpectedCall:
    return ExpectedCall(name=name, arguments=arguments)


def spoken(when: str) -> str:
    """`2024-05-07` → `May 7, 2024` (how the customer says a date)."""
    month = {"04": "April", "05": "May", "06": "June"}[when[5:7]]
    return f"{month} {int(when[8:])}, {when[:4]}"


CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}


REASON_WORDS = {
    "change of plan": "because my plans changed",
    "health": "because I am ill and cannot travel (a health reason)",
    "weather": "because of a severe weather warning at my destination",
}


def payment_words(method: PaymentMethod) -> str:
    if method.source == "credit_card":
        return f"my {str(method.brand).title()} card ending in {method.last_four}"
    return "my gift card" if method.source == "gift_card" else "my travel certificate"


def choose_payer(rng: random.Random, user: User, amount: float) -> PaymentMethod:
    """A credit card, or a gift card that can pay `amount`."""
    methods = [
        m
        for m in user.payment_methods.values()
        if m.source == "credit_card" or (m.source == "gift_card" and (m.amount or 0) >= amount)
    ]
    return rng.choice(methods)


def leg_dicts(r: Reservation) -> list[dict[str, str]]:
    return [{"flight_number": f.flight_number, "date": f.date} for f in r.flights]


def passenger_dicts(r: Reservation) -> list[dict[str, str]]:
    return [p.model_dump() for p in r.passengers]


def is_open(db: AirlineDB, r: Reservation) -> bool:
    """Active, and no flight flown yet."""
    return r.status == "active" and all(f.date > day(TODAY) for f in r.flights)


def is_recent(r: Reservation) -> bool:
    return r.created_at >= "2024-05-14T15:00:00"


def disrupted(db: AirlineDB, r: Reservation, status: str) -> list[str]:
    return [
        f.flight_number
        for f in r.flights
        if db.flights[f.flight_number].dates[f.date].status == status
    ]


def refundable(db: AirlineDB, r: Reservation) -> bool:
    return is_recent(r) or r.cabin == "business" or bool(disrupted(db, r, "cancelled"))


def reads(r: Reservation) -> list[ExpectedCall]:
    return [call("get_reservation_details", reservation_id=r.reservation_id)]


def _reservations(db: AirlineDB, keep: Callable[[Reservation], bool]) -> list[Any]:
    return [r for r in db.reservations.values() if keep(r)]


def _compensable(db: AirlineDB, r: Reservation) -> bool:
    user = db.users[r.user_id]
    eligible = user.membership != "regular" or r.cabin == "business" or r.insurance
    hit = disrupted(db, r, "cancelled") + disrupted(db, r, "delayed")
    return r.status == "active" and eligible and bool(hit)


ELIGIBLE: dict[str, Callable[[AirlineDB], list[Any]]] = {
    "cancel": lambda db: _reservations(
        db, lambda r: is_open(db, r) and (refundable(db, r) or r.insurance)
    ),
    "cancel_refused": lambda db: _reservations(
        db, lambda r: is_open(db, r) and not refundable(db, r)
    ),
    "change_cabin": lambda db: _reservations(
        db,
        lambda r: is_open(db, r) and r.cabin != "business" and upgrade_cost(db, r, "business") > 0,
    ),
    "change_date": lambda db: _reservations(
        db,
        lambda r: (
            is_open(db, r)
            and r.flight_type == "one_way"
            and r.cabin != "basic_economy"
            and bool(other_dates(db, r))
        ),
    ),
    "change_refused": lambda db: _reservations(
        db, lambda r: is_open(db, r) and r.cabin == "basic_economy"
    ),
    "baggage": lambda db: _reservations(db, lambda r: is_open(db, r)),
    "passenger": lambda db: _reservations(db, lambda r: is_open(db, r)),
    "book": lambda db: list(db.users.values()),
    "compensation": lambda db: _reservations(db, lambda r: _compensable(db, r)),
    "status": lambda db: _reservations(db, lambda r: r.status == "active"),
    "transfer": lambda db: _reservations(
        db,
        lambda r: r.status == "active" and (len(r.passengers) >= 2 or not is_open(db, r)),
    ),
}


def upgrade_cost(db: AirlineDB, r: Reservation, cabin: Cabin) -> float:
    """The price difference of moving every flight of `r` to `cabin` (0 if impossible)."""
    total = 0.0
    for f in r.flights:
        entry = db.flights[f.flight_number].dates[f.date]
        if entry.status != "scheduled" or entry.available_seats[cabin] < len(r.passengers):
            return 0.0
        total += entry.prices[cabin] - f.price
    return round(total * len(r.passengers), 2)


def other_dates(db: AirlineDB, r: Reservation) -> list[str]:
    flight, current = db.flights[r.flights[0].flight_number], r.flights[0].date
    return [
        when
        for when, entry in flight.dates.items()
        if day(TODAY) < when <= day(LAST_DAY)
        and when != current
        and entry.status == "scheduled"
        and entry.available_seats[r.cabin] >= len(r.passengers)
    ]


def by_route(db: AirlineDB, r: Reservation) -> str | None:
    """`r` named by its route and first date, when that is unique among the user's
    reservations (else None)."""
    user = db.users[r.user_id]
    key = (r.origin, r.destination, r.flights[0].date)
    same = [
        o
        for o in (db.reservations[i] for i in user.reservations)
        if (o.origin, o.destination, o.flights[0].date) == key
    ]
    if len(same) > 1:
        return None
    origin, destination = db.airports[r.origin].city, db.airports[r.destination].city
    return f"my reservation from {origin} to {destination} on {spoken(r.flights[0].date)}"
