"""The airline's task intents: how a subject (a reservation, or a user for a booking)
becomes a customer request with its ground truth.

Every builder returns the request (after the customer's greeting, which gives the user
id), the ground-truth calls after `get_user_details`, and the required outputs. Only the
consequential calls decide the target database; the look-ups are there because the
policy asks for them, and show the lookup chains the agent needs (city name → airport
code → flight; route and date → reservation → flight status).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from palaestra.envs.tooluse._domain import ExpectedCall
from palaestra.envs.tooluse.airline._db import (
    BAG_FEE,
    CABINS,
    FREE_BAGS,
    LAST_DAY,
    LAST_NAMES,
    AirlineDB,
    Cabin,
    Flight,
    Reservation,
    User,
    day,
    reservation_price,
)
from palaestra.envs.tooluse.airline._facts import (
    CABIN_WORDS,
    REASON_WORDS,
    by_route,
    call,
    choose_payer,
    disrupted,
    is_open,
    is_recent,
    leg_dicts,
    other_dates,
    passenger_dicts,
    payment_words,
    reads,
    spoken,
    upgrade_cost,
)

Built = tuple[str, list[ExpectedCall], list[str]]
"""(request text, ground-truth calls after authentication, required outputs)"""


def _cancel(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    cancelled = disrupted(db, r, "cancelled")
    if cancelled:
        reason = "airline cancelled flight"
        words = f"because you cancelled my flight {cancelled[0]}"
    else:
        options = ["health", "weather"]
        if is_recent(r) or r.cabin == "business":
            options.append("change of plan")
        reason = rng.choice(options)
        words = REASON_WORDS[reason]
    text = f"Please cancel my reservation {r.reservation_id} {words}."
    checks = [
        call("get_flight_status", flight_number=f.flight_number, date=f.date)
        for f in r.flights
        if f.flight_number in cancelled
    ]
    cancel = call("cancel_reservation", reservation_id=r.reservation_id, reason=reason)
    return text, [*reads(r), *checks, cancel], []


def _cancel_refused(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    text = (
        f"Please cancel my reservation {r.reservation_id} because my plans changed. "
        "I want my money back."
    )
    return text, reads(r), []


def _change_cabin(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    cabin: Cabin = "business"
    if r.cabin == "basic_economy" and upgrade_cost(db, r, "economy") > 0 and rng.random() < 0.5:
        cabin = "economy"
    cost = upgrade_cost(db, r, cabin)
    payer = choose_payer(rng, db.users[r.user_id], cost)
    text = (
        f"I'd like to upgrade my reservation {r.reservation_id} to {CABIN_WORDS[cabin]} "
        f"for all its flights, paid with {payment_words(payer)}. Tell me what it costs."
    )
    change = call(
        "update_reservation_flights",
        reservation_id=r.reservation_id,
        cabin=cabin,
        flights=leg_dicts(r),
        payment_id=payer.id,
    )
    return text, [*reads(r), change], [f"{cost:.2f}"]


def _change_date(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    leg = r.flights[0]
    when = rng.choice(other_dates(db, r))
    price = db.flights[leg.flight_number].dates[when].prices[r.cabin]
    difference = round((price - leg.price) * len(r.passengers), 2)
    payer = choose_payer(rng, db.users[r.user_id], difference)
    text = (
        f"Please move my reservation {r.reservation_id} to {spoken(when)}, on the same flight "
        f"{leg.flight_number}. Any price difference goes on {payment_words(payer)}; "
        "tell me the amount."
    )
    calls = [
        *reads(r),
        call("search_direct_flights", origin=r.origin, destination=r.destination, date=when),
        call(
            "update_reservation_flights",
            reservation_id=r.reservation_id,
            cabin=r.cabin,
            flights=[{"flight_number": leg.flight_number, "date": when}],
            payment_id=payer.id,
        ),
    ]
    return text, calls, [f"{abs(difference):.2f}"] if difference else []


def _change_refused(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    current = r.flights[0].date
    later = [day(LAST_DAY)] + [f"2024-05-{d:02d}" for d in range(17, 30)]
    when = rng.choice([d for d in later if d != current])
    text = f"Please move my reservation {r.reservation_id} to fly on {spoken(when)} instead."
    return text, reads(r), []


def _baggage(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    user = db.users[r.user_id]
    added = rng.choice([1, 1, 2])
    total = r.total_baggages + added
    nonfree = max(0, total - FREE_BAGS[user.membership][r.cabin] * len(r.passengers))
    fee = (nonfree - r.nonfree_baggages) * BAG_FEE
    payer = choose_payer(rng, user, fee)
    text = (
        f"I want to add {added} checked bag{'s' if added > 1 else ''} to my reservation "
        f"{r.reservation_id}. Put any fee on {payment_words(payer)} and tell me how much."
    )
    change = call(
        "update_reservation_baggages",
        reservation_id=r.reservation_id,
        total_baggages=total,
        nonfree_baggages=nonfree,
        payment_id=payer.id,
    )
    return text, [*reads(r), change], [f"{fee:.2f}"] if fee else []


def _passenger(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    index = rng.randrange(len(r.passengers))
    old = r.passengers[index]
    fixed = passenger_dicts(r)
    if rng.random() < 0.5:
        fixed[index]["last_name"] = rng.choice([n for n in LAST_NAMES if n != old.last_name])
        change = f"last name should be {fixed[index]['last_name']}"
    else:
        year = int(old.dob[:4]) + rng.choice([-1, 1])
        fixed[index]["dob"] = f"{year}{old.dob[4:]}"
        change = f"date of birth should be {fixed[index]['dob']}"
    which = f"my reservation {r.reservation_id}"
    if rng.random() < 0.6:
        which = by_route(db, r) or which
    text = (
        f"On {which}, passenger {old.first_name} {old.last_name} was entered wrong: the "
        f"{change}. Everything else is right."
    )
    update = call(
        "update_reservation_passengers", reservation_id=r.reservation_id, passengers=fixed
    )
    return text, [*reads(r), update], []


def _book(rng: random.Random, db: AirlineDB, user: User) -> Built:
    cabin: Cabin = rng.choices(CABINS, weights=[2, 5, 2])[0]
    companions = rng.choice([0, 0, 1])
    seats = 1 + companions
    routes: dict[tuple[str, str], list[Flight]] = {}
    for f in sorted(db.flights.values(), key=lambda f: f.departure_time):
        routes.setdefault((f.origin, f.destination), []).append(f)
    options = []
    for when in [f"2024-05-{d:02d}" for d in range(16, 31)]:
        for route in routes.values():
            flights = [f for f in route if f.dates[when].status == "scheduled"]
            if flights and all(f.dates[when].available_seats[cabin] >= seats for f in flights):
                options.append((when, flights))
    when, flights = rng.choice(options)
    earliest = rng.random() < 0.5
    flight = flights[0] if earliest else flights[-1]
    which = "" if len(flights) == 1 else f", the {'earliest' if earliest else 'latest'} flight"
    passengers = [{"first_name": user.name.first_name, "last_name": user.name.last_name,
                   "dob": user.dob}]  # fmt: skip
    who = "Just me."
    if companions:
        first, last = rng.choice(["Alex", "Jordan", "Maya", "Leo"]), rng.choice(LAST_NAMES)
        dob = f"{rng.randint(1950, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        passengers.append({"first_name": first, "last_name": last, "dob": dob})
        who = f"For me and {first} {last}, born {dob}."
    bags = rng.randint(0, 2 * seats)
    nonfree = max(0, bags - FREE_BAGS[user.membership][cabin] * seats)
    insurance = rng.random() < 0.4
    price = db.flights[flight.flight_number].dates[when].prices[cabin]
    total = round(reservation_price([price], seats, insurance) + nonfree * BAG_FEE, 2)
    payer = choose_payer(rng, user, total)
    origin, destination = db.airports[flight.origin].city, db.airports[flight.destination].city
    text = (
        f"I'd like to book a one-way trip from {origin} to {destination} on {spoken(when)}"
        f"{which}, in {CABIN_WORDS[cabin]}. {who} "
        f"{f'We check {bags} bag(s) in total.' if bags else 'No checked bags.'} "
        f"{'With travel insurance.' if insurance else 'No insurance.'} "
        f"Pay with {payment_words(payer)}, and tell me the total."
    )
    calls = [
        call("list_airports"),
        call("search_direct_flights", origin=flight.origin, destination=flight.destination,
             date=when),
        call("book_reservation", user_id=user.user_id, origin=flight.origin,
             destination=flight.destination, flight_type="one_way", cabin=cabin,
             flights=[{"flight_number": flight.flight_number, "date": when}],
             passengers=passengers, payment_id=payer.id, total_baggages=bags,
             nonfree_baggages=nonfree, insurance=insurance),
    ]  # fmt: skip
    return text, calls, [f"{total:.2f}"]


def _compensation(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    leg = next(
        f
        for f in r.flights
        if db.flights[f.flight_number].dates[f.date].status in ("cancelled", "delayed")
    )
    status = db.flights[leg.flight_number].dates[leg.date].status
    amount = (100.0 if status == "cancelled" else 50.0) * len(r.passengers)
    text = (
        f"My flight {leg.flight_number} on {spoken(leg.date)} (reservation "
        f"{r.reservation_id}) has been {status}, and I am very unhappy about it. I want "
        "compensation; tell me how much you give me."
    )
    calls = [
        *reads(r),
        call("get_flight_status", flight_number=leg.flight_number, date=leg.date),
        call("send_certificate", user_id=r.user_id, amount=amount),
    ]
    return text, calls, [f"{amount:.2f}"]


def _status(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    leg = rng.choice(r.flights)
    flight = db.flights[leg.flight_number]
    outputs = [flight.dates[leg.date].status, flight.departure_time]
    check = call("get_flight_status", flight_number=leg.flight_number, date=leg.date)
    which = by_route(db, r)
    if leg is r.flights[0] and which is not None and rng.random() < 0.6:
        text = f"What is the status of the first flight of {which}, and when does it depart?"
        return text, [*reads(r), check], outputs
    text = (
        f"What is the status of flight {leg.flight_number} on {spoken(leg.date)}, and when "
        "does it depart?"
    )
    return text, [check], outputs


def _transfer(rng: random.Random, db: AirlineDB, r: Reservation) -> Built:
    if is_open(db, r):
        leaving = rng.choice(r.passengers)
        text = (
            f"Please remove {leaving.first_name} {leaving.last_name} from my reservation "
            f"{r.reservation_id}; the other passengers still travel."
        )
        summary = "Remove one passenger from a reservation, keep the others."
    else:
        text = (
            f"I flew on my reservation {r.reservation_id} and the trip was awful. I want a "
            "refund for it."
        )
        summary = "Refund requested for a reservation that has already flown."
    transfer = call("transfer_to_human_agents", summary=summary)
    return text, [*reads(r), transfer], []


BUILDERS: dict[str, Callable[[random.Random, AirlineDB, Any], Built]] = {
    "cancel": _cancel,
    "cancel_refused": _cancel_refused,
    "change_cabin": _change_cabin,
    "change_date": _change_date,
    "change_refused": _change_refused,
    "baggage": _baggage,
    "passenger": _passenger,
    "book": _book,
    "compensation": _compensation,
    "status": _status,
    "transfer": _transfer,
}
