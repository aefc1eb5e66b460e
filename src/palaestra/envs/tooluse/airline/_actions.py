"""The airline's consequential tools: book, cancel, change flights or cabin, add bags,
correct passengers, send a compensation certificate.

The tools enforce what the database itself forbids (a flown or cancelled reservation, a
flight without seats, a gift card without the balance, a changed number of passengers)
and answer `Error: ...` without changing anything. They do *not* enforce the policy's
business rules (who may cancel, basic economy changes, who gets compensation): following
the policy is the agent's job, and the reward checks it through the final database.
"""

from __future__ import annotations

import random
from typing import Any

from palaestra.envs.tooluse.airline._db import (
    BAG_FEE,
    TODAY,
    AirlineDB,
    Cabin,
    Passenger,
    PaymentMethod,
    Reservation,
    ReservationFlight,
    Transaction,
    User,
    day,
    reservation_code,
    reservation_price,
)
from palaestra.envs.tooluse.airline._db import NOW as _NOW


def find_user(db: AirlineDB, user_id: str) -> User | str:
    user = db.users.get(user_id)
    return user if user is not None else f"Error: user {user_id!r} not found"


def find_reservation(db: AirlineDB, reservation_id: str) -> Reservation | str:
    reservation = db.reservations.get(reservation_id.strip().upper())
    if reservation is None:
        return f"Error: reservation {reservation_id!r} not found"
    return reservation


def _open(db: AirlineDB, reservation_id: str) -> Reservation | str:
    """An active reservation none of whose flights has flown yet."""
    reservation = find_reservation(db, reservation_id)
    if isinstance(reservation, str):
        return reservation
    if reservation.status != "active":
        return f"Error: reservation {reservation.reservation_id} is cancelled"
    flown = [f.flight_number for f in reservation.flights if f.date <= day(TODAY)]
    if flown:
        return (
            f"Error: reservation {reservation.reservation_id} has flights that already flew "
            f"({', '.join(flown)}); it cannot be changed or cancelled with the tools"
        )
    return reservation


def _method(db: AirlineDB, user: User, payment_id: str) -> PaymentMethod | str:
    method = user.payment_methods.get(payment_id)
    if method is None:
        valid = ", ".join(user.payment_methods) or "none"
        return f"Error: payment method {payment_id!r} not found for this user; theirs: {valid}"
    return method


def _settle(
    method: PaymentMethod, amount: float, history: list[Transaction], *, booking: bool = False
) -> str | None:
    """Charge (amount > 0) or refund (amount < 0) `method`; an error text if it cannot."""
    amount = round(amount, 2)
    if method.source == "certificate" and (not booking or amount < 0):
        return "Error: a certificate can only pay for a new booking"
    if amount > 0 and method.source != "credit_card" and (method.amount or 0.0) < amount:
        return (
            f"Error: {method.id} holds {method.amount:.2f}, less than the {amount:.2f} to pay; "
            "use another payment method"
        )
    if amount > 0:
        history.append(Transaction(kind="payment", amount=amount, payment_id=method.id))
    elif amount < 0:
        history.append(Transaction(kind="refund", amount=-amount, payment_id=method.id))
    if method.source != "credit_card":
        method.amount = round((method.amount or 0.0) - amount, 2)
    return None


def _segments(
    db: AirlineDB,
    legs: list[dict[str, Any]],
    origin: str,
    destination: str,
    flight_type: str,
    cabin: Cabin,
    seats: int,
    keep: Reservation | None = None,
) -> list[ReservationFlight] | str:
    """Validate the legs of a trip and price them (a leg kept in the same cabin keeps its
    price and seats); an error text when a leg is wrong."""
    expected = 2 if flight_type == "round_trip" else 1
    if len(legs) != expected:
        return f"Error: a {flight_type} trip has {expected} flight(s), got {len(legs)}"
    route = [(origin, destination), (destination, origin)]
    out: list[ReservationFlight] = []
    for index, leg in enumerate(legs):
        number, when = leg["flight_number"], leg["date"]
        flight = db.flights.get(number)
        if flight is None:
            return f"Error: flight {number!r} not found"
        if (flight.origin, flight.destination) != route[index]:
            return (
                f"Error: flight {number} flies {flight.origin}-{flight.destination}, but leg "
                f"{index + 1} of this trip must fly {route[index][0]}-{route[index][1]}"
            )
        kept = (
            keep is not None
            and keep.cabin == cabin
            and any((f.flight_number, f.date) == (number, when) for f in keep.flights)
        )
        entry = flight.dates.get(when)
        if entry is None:
            return f"Error: flight {number} does not fly on {when!r} (dates are YYYY-MM-DD)"
        if not kept and (entry.status != "scheduled" or when <= day(TODAY)):
            return f"Error: flight {number} on {when} is {entry.status}; it cannot be booked"
        if not kept and entry.available_seats[cabin] < seats:
            return (
                f"Error: flight {number} on {when} has {entry.available_seats[cabin]} free "
                f"{cabin} seat(s), {seats} needed"
            )
        price = (
            next(f.price for f in keep.flights if (f.flight_number, f.date) == (number, when))
            if kept and keep is not None
            else entry.prices[cabin]
        )
        out.append(
            ReservationFlight(
                flight_number=number,
                origin=flight.origin,
                destination=flight.destination,
                date=when,
                price=price,
            )
        )
    if len(out) == 2 and out[1].date < out[0].date:
        return "Error: the return flight must not be before the outbound flight"
    return out


def _move_seats(db: AirlineDB, flights: list[ReservationFlight], cabin: str, delta: int) -> None:
    for leg in flights:
        entry = db.flights[leg.flight_number].dates[leg.date]
        if entry.status == "scheduled":
            entry.available_seats[cabin] += delta


def book_reservation(
    db: AirlineDB,
    user_id: str,
    origin: str,
    destination: str,
    flight_type: str,
    cabin: Cabin,
    flights: list[dict[str, Any]],
    passengers: list[dict[str, Any]],
    payment_id: str,
    total_baggages: int,
    nonfree_baggages: int,
    insurance: bool,
) -> str:
    user = find_user(db, user_id)
    if isinstance(user, str):
        return user
    for code in (origin, destination):
        if code not in db.airports:
            return f"Error: unknown airport {code!r}; see list_airports"
    if nonfree_baggages > total_baggages:
        return "Error: nonfree_baggages cannot exceed total_baggages"
    legs = _segments(db, flights, origin, destination, flight_type, cabin, len(passengers))
    if isinstance(legs, str):
        return legs
    method = _method(db, user, payment_id)
    if isinstance(method, str):
        return method
    total = reservation_price([f.price for f in legs], len(passengers), insurance)
    history: list[Transaction] = []
    problem = _settle(method, total + nonfree_baggages * BAG_FEE, history, booking=True)
    if problem:
        return problem
    if method.source == "certificate":
        del user.payment_methods[method.id]  # used up, no change given
    rng = random.Random(f"{user_id}|{len(db.reservations)}")
    reservation = Reservation(
        reservation_id=reservation_code(rng, set(db.reservations)),
        user_id=user_id,
        origin=origin,
        destination=destination,
        flight_type="round_trip" if flight_type == "round_trip" else "one_way",
        cabin=cabin,
        flights=legs,
        passengers=[Passenger(**p) for p in passengers],
        payment_history=history,
        created_at=_NOW.isoformat(),
        total_baggages=total_baggages,
        nonfree_baggages=nonfree_baggages,
        insurance=insurance,
    )
    _move_seats(db, legs, cabin, -len(passengers))
    db.reservations[reservation.reservation_id] = reservation
    user.reservations.append(reservation.reservation_id)
    return reservation.model_dump_json()


def cancel_reservation(db: AirlineDB, reservation_id: str, reason: str) -> str:
    reservation = _open(db, reservation_id)
    if isinstance(reservation, str):
        return reservation
    user = db.users[reservation.user_id]
    net: dict[str, float] = {}
    for t in reservation.payment_history:
        sign = 1.0 if t.kind == "payment" else -1.0
        net[t.payment_id] = net.get(t.payment_id, 0.0) + sign * t.amount
    for payment_id, amount in net.items():
        method = user.payment_methods.get(payment_id)
        if amount > 0 and method is not None and method.source != "certificate":
            _settle(method, -amount, reservation.payment_history)
    _move_seats(db, reservation.flights, reservation.cabin, len(reservation.passengers))
    reservation.status = "cancelled"
    reservation.cancel_reason = reason
    return reservation.model_dump_json()


def update_reservation_flights(
    db: AirlineDB, reservation_id: str, cabin: Cabin, flights: list[dict[str, Any]], payment_id: str
) -> str:
    reservation = _open(db, reservation_id)
    if isinstance(reservation, str):
        return reservation
    r = reservation
    legs = _segments(
        db, flights, r.origin, r.destination, r.flight_type, cabin, len(r.passengers), keep=r
    )
    if isinstance(legs, str):
        return legs
    if legs == r.flights and cabin == r.cabin:
        return "Error: the reservation already has these flights in this cabin"
    method = _method(db, db.users[r.user_id], payment_id)
    if isinstance(method, str):
        return method
    difference = (sum(f.price for f in legs) - sum(f.price for f in r.flights)) * len(r.passengers)
    problem = _settle(method, difference, r.payment_history)
    if problem:
        return problem
    _move_seats(db, r.flights, r.cabin, len(r.passengers))
    _move_seats(db, legs, cabin, -len(r.passengers))
    r.flights, r.cabin = legs, cabin
    return r.model_dump_json()


def update_reservation_baggages(
    db: AirlineDB, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
) -> str:
    reservation = _open(db, reservation_id)
    if isinstance(reservation, str):
        return reservation
    r = reservation
    if total_baggages < r.total_baggages or nonfree_baggages < r.nonfree_baggages:
        return (
            f"Error: bags can only be added (the reservation has {r.total_baggages} bag(s), "
            f"{r.nonfree_baggages} of them paid)"
        )
    if nonfree_baggages > total_baggages:
        return "Error: nonfree_baggages cannot exceed total_baggages"
    if (total_baggages, nonfree_baggages) == (r.total_baggages, r.nonfree_baggages):
        return "Error: nothing to change"
    method = _method(db, db.users[r.user_id], payment_id)
    if isinstance(method, str):
        return method
    problem = _settle(method, (nonfree_baggages - r.nonfree_baggages) * BAG_FEE, r.payment_history)
    if problem:
        return problem
    r.total_baggages, r.nonfree_baggages = total_baggages, nonfree_baggages
    return r.model_dump_json()


def update_reservation_passengers(
    db: AirlineDB, reservation_id: str, passengers: list[dict[str, Any]]
) -> str:
    reservation = _open(db, reservation_id)
    if isinstance(reservation, str):
        return reservation
    if len(passengers) != len(reservation.passengers):
        return (
            f"Error: the number of passengers cannot change (the reservation has "
            f"{len(reservation.passengers)}); give every passenger, corrected"
        )
    reservation.passengers = [Passenger(**p) for p in passengers]
    return reservation.model_dump_json()


def send_certificate(db: AirlineDB, user_id: str, amount: float) -> str:
    user = find_user(db, user_id)
    if isinstance(user, str):
        return user
    db.certificates_issued += 1
    method_id = f"certificate_{9000000 + db.certificates_issued}"
    user.payment_methods[method_id] = PaymentMethod(
        id=method_id, source="certificate", amount=round(float(amount), 2)
    )
    return f"Certificate {method_id} worth {amount:.2f} added to {user_id}'s payment methods."
