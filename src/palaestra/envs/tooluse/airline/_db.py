"""The airline's database: airports, flights (with a status, seats and prices per date),
users (membership, payment methods) and reservations, generated deterministically from a
seed.

The airline lives at a fixed moment, `NOW` (2024-05-15 15:00): flights up to `TODAY`
have landed, later ones are scheduled, except a few the airline delayed or cancelled.
Money is in US dollars; every amount is computed with `round(..., 2)` so that the same
operations give the same database hash.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Cabin = Literal["basic_economy", "economy", "business"]
CABINS: tuple[Cabin, ...] = ("basic_economy", "economy", "business")
Membership = Literal["regular", "silver", "gold"]
FlightStatus = Literal["scheduled", "delayed", "cancelled", "landed"]
PaymentSource = Literal["credit_card", "gift_card", "certificate"]

NOW = datetime(2024, 5, 15, 15, 0)
"""The airline's present moment."""
TODAY = NOW.date()
FIRST_DAY = date(2024, 5, 8)
LAST_DAY = date(2024, 5, 30)
"""Flights fly every day from `FIRST_DAY` to `LAST_DAY`."""
FREE_BAGS: dict[Membership, dict[Cabin, int]] = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 3},
}
"""Free checked bags per passenger, by the booking user's membership and the cabin."""
BAG_FEE = 50.0
"""Price of each checked bag beyond the free allowance."""
INSURANCE_FEE = 30.0
"""Travel insurance, per passenger."""
MAX_PASSENGERS = 5
CANCEL_REASONS = ("change of plan", "airline cancelled flight", "health", "weather", "other")
"""The reasons `cancel_reservation` accepts."""
INSURED_REASONS = ("health", "weather")
"""Reasons for which travel insurance makes a reservation refundable."""


def day(value: date) -> str:
    """A date as the tools write it: `2024-05-17`."""
    return value.isoformat()


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Airport(_Record):
    code: str
    """IATA code, e.g. `JFK`."""
    city: str


class FlightDate(_Record):
    """One flight on one date."""

    status: FlightStatus
    available_seats: dict[str, int]
    """Free seats by cabin."""
    prices: dict[str, float]
    """Price per passenger by cabin (basic economy < economy < business)."""


class Flight(_Record):
    flight_number: str
    """E.g. `HAT042`."""
    origin: str
    """Airport code."""
    destination: str
    departure_time: str
    """Local time `HH:MM`."""
    arrival_time: str
    dates: dict[str, FlightDate]
    """By date `YYYY-MM-DD`."""


class Name(_Record):
    first_name: str
    last_name: str


class PaymentMethod(_Record):
    id: str
    """E.g. `credit_card_1234567`, `gift_card_1234567`, `certificate_1234567`."""
    source: PaymentSource
    brand: str | None = None
    """Card brand (credit cards only)."""
    last_four: str | None = None
    """Last four digits (credit cards only)."""
    amount: float | None = None
    """Balance of a gift card, value of a certificate (None for credit cards)."""


class Passenger(_Record):
    first_name: str
    last_name: str
    dob: str
    """Date of birth, `YYYY-MM-DD`."""


class User(_Record):
    user_id: str
    name: Name
    email: str
    dob: str
    membership: Membership
    payment_methods: dict[str, PaymentMethod]
    """By payment method id."""
    reservations: list[str] = Field(default_factory=list)
    """Ids of the user's reservations, oldest first."""


class ReservationFlight(_Record):
    flight_number: str
    origin: str
    destination: str
    date: str
    price: float
    """Price per passenger paid for this flight in the reservation's cabin."""


class Transaction(_Record):
    kind: Literal["payment", "refund"]
    amount: float
    payment_id: str


class Reservation(_Record):
    reservation_id: str
    """Six letters and digits, e.g. `4WQ15Z`."""
    user_id: str
    origin: str
    destination: str
    flight_type: Literal["one_way", "round_trip"]
    cabin: Cabin
    flights: list[ReservationFlight]
    """The outbound flight, then (round trip) the return flight."""
    passengers: list[Passenger]
    payment_history: list[Transaction]
    created_at: str
    """`YYYY-MM-DDTHH:MM:SS`."""
    total_baggages: int
    nonfree_baggages: int
    insurance: bool
    status: Literal["active", "cancelled"] = "active"
    cancel_reason: str | None = None


class AirlineDB(_Record):
    """The whole airline: what the tools read and change."""

    airports: dict[str, Airport]
    flights: dict[str, Flight]
    users: dict[str, User]
    reservations: dict[str, Reservation]
    certificates_issued: int = 0
    """Certificates sent by `send_certificate` (numbers their ids)."""


# --- generation -------------------------------------------------------------------------

_AIRPORTS = [
    ("JFK", "New York"), ("LAX", "Los Angeles"), ("ORD", "Chicago"), ("SFO", "San Francisco"),
    ("SEA", "Seattle"), ("BOS", "Boston"), ("MIA", "Miami"), ("DEN", "Denver"),
    ("ATL", "Atlanta"), ("DFW", "Dallas"),
]  # fmt: skip
_FIRST = [
    "Sara", "Omar", "Mei", "Lucas", "Aisha", "Noah", "Yuki", "Elena", "Ravi", "Chloe",
    "Mateo", "Ingrid", "Kwame", "Lena", "Diego", "Hana", "Ethan", "Fatima", "Ivan", "Zoe",
    "Amir", "Nora", "Samuel", "Priya",
]  # fmt: skip
_LAST = [
    "Lopez", "Haddad", "Chen", "Martin", "Khan", "Smith", "Tanaka", "Rossi", "Patel",
    "Dubois", "Garcia", "Larsen", "Mensah", "Novak", "Silva", "Kim", "Brown", "Ali",
    "Petrov", "Young", "Shah", "Berg", "Cohen", "Iyer",
]  # fmt: skip
LAST_NAMES = tuple(_LAST)
"""Last names of users and passengers."""
NUM_USERS = 50
NUM_ROUTES = 12
"""Airport pairs served (both ways)."""


def _digits(rng: random.Random, n: int, used: set[str]) -> str:
    while True:
        text = str(rng.randrange(10 ** (n - 1), 10**n))
        if text not in used:
            used.add(text)
            return text


def reservation_code(rng: random.Random, used: set[str]) -> str:
    """A fresh six-character reservation id."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        code = "".join(rng.choice(alphabet) for _ in range(6))
        if code not in used:
            used.add(code)
            return code


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _flights(rng: random.Random) -> dict[str, Flight]:
    codes = [code for code, _ in _AIRPORTS]
    pairs = rng.sample([(a, b) for i, a in enumerate(codes) for b in codes[i + 1 :]], NUM_ROUTES)
    flights: dict[str, Flight] = {}
    days = [FIRST_DAY + timedelta(days=k) for k in range((LAST_DAY - FIRST_DAY).days + 1)]
    for a, b in pairs:
        duration = rng.randint(70, 330)
        base = round(duration * rng.uniform(0.35, 0.6))
        for origin, destination in ((a, b), (b, a)):
            for _ in range(rng.choice([1, 1, 2])):
                number = f"HAT{len(flights) + 1:03d}"
                departure = rng.randrange(6 * 60, 24 * 60 - duration - 30, 5)
                dates = {}
                for when in days:
                    basic = round(base * rng.uniform(0.8, 1.3))
                    economy = round(basic * rng.uniform(1.3, 1.7))
                    business = round(economy * rng.uniform(2.2, 3.2))
                    prices = {"basic_economy": basic, "economy": economy, "business": business}
                    seats = {c: rng.choice([0, 2, 5, 8, 12, 16, 20]) for c in CABINS}
                    status: FlightStatus = "landed" if when <= TODAY else "scheduled"
                    dates[day(when)] = FlightDate(
                        status=status,
                        available_seats=seats,
                        prices={c: float(p) for c, p in prices.items()},
                    )
                flights[number] = Flight(
                    flight_number=number,
                    origin=origin,
                    destination=destination,
                    departure_time=_clock(departure),
                    arrival_time=_clock(departure + duration),
                    dates=dates,
                )
    return flights


def _users(rng: random.Random, used: set[str]) -> dict[str, User]:
    users: dict[str, User] = {}
    names = rng.sample([(f, last) for f in _FIRST for last in _LAST], k=NUM_USERS)
    for first, last in names:
        number = _digits(rng, 4, used)
        methods: dict[str, PaymentMethod] = {}
        for _ in range(rng.choice([1, 1, 2])):
            method_id = f"credit_card_{_digits(rng, 7, used)}"
            methods[method_id] = PaymentMethod(
                id=method_id,
                source="credit_card",
                brand=rng.choice(["visa", "mastercard"]),
                last_four=_digits(rng, 4, used),
            )
        if rng.random() < 0.5:
            method_id = f"gift_card_{_digits(rng, 7, used)}"
            amount = float(rng.randrange(0, 600, 10))
            methods[method_id] = PaymentMethod(id=method_id, source="gift_card", amount=amount)
        if rng.random() < 0.3:
            method_id = f"certificate_{_digits(rng, 7, used)}"
            amount = float(rng.choice([100, 150, 250, 500]))
            methods[method_id] = PaymentMethod(id=method_id, source="certificate", amount=amount)
        user_id = f"{first.lower()}_{last.lower()}_{number}"
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
        users[user_id] = User(
            user_id=user_id,
            name=Name(first_name=first, last_name=last),
            email=f"{first.lower()}.{last.lower()}{number[-2:]}@example.com",
            dob=day(born),
            membership=rng.choices(["regular", "silver", "gold"], weights=[5, 3, 2])[0],
            payment_methods=methods,
        )
    return users


def reservation_price(flight_prices: list[float], passengers: int, insurance: bool) -> float:
    """Flights times passengers, plus insurance (bags are paid on top)."""
    per_person = sum(flight_prices) + (INSURANCE_FEE if insurance else 0.0)
    return round(per_person * passengers, 2)


def _reservation(
    rng: random.Random, db: AirlineDB, user: User, used: set[str], companions: list[Passenger]
) -> Reservation:
    outbound = rng.choice(list(db.flights.values()))
    returns = [
        f
        for f in db.flights.values()
        if (f.origin, f.destination) == (outbound.destination, outbound.origin)
    ]
    start = FIRST_DAY + timedelta(days=rng.randint(1, 20))
    legs = [(outbound, start)]
    if rng.random() < 0.4:
        back = min(start + timedelta(days=rng.randint(1, 5)), LAST_DAY)
        legs.append((rng.choice(returns), back))
    cabin: Cabin = rng.choices(CABINS, weights=[3, 5, 2])[0]
    me = Passenger(first_name=user.name.first_name, last_name=user.name.last_name, dob=user.dob)
    passengers = [me] if rng.random() < 0.8 else []
    passengers += rng.sample(companions, k=rng.randint(0 if passengers else 1, 2))
    flights = [
        ReservationFlight(
            flight_number=f.flight_number,
            origin=f.origin,
            destination=f.destination,
            date=day(when),
            price=f.dates[day(when)].prices[cabin],
        )
        for f, when in legs
    ]
    insurance = rng.random() < 0.3
    allowance = FREE_BAGS[user.membership][cabin] * len(passengers)
    bags = rng.randint(0, 2 * len(passengers))
    nonfree = max(0, bags - allowance)
    total = round(
        reservation_price([f.price for f in flights], len(passengers), insurance)
        + nonfree * BAG_FEE,
        2,
    )
    if start > TODAY and rng.random() < 0.25:
        created = NOW - timedelta(minutes=rng.randrange(30, 23 * 60, 5))
    else:
        created = datetime(2024, 4, 1, 8) + timedelta(minutes=rng.randrange(0, 40 * 24 * 60, 5))
        created = min(created, datetime.combine(start, datetime.min.time()) - timedelta(days=1))
    payable = [m for m in user.payment_methods.values() if m.source in ("credit_card", "gift_card")]
    payment = rng.choice(payable)
    reservation = Reservation(
        reservation_id=reservation_code(rng, used),
        user_id=user.user_id,
        origin=outbound.origin,
        destination=outbound.destination,
        flight_type="round_trip" if len(legs) == 2 else "one_way",
        cabin=cabin,
        flights=flights,
        passengers=passengers,
        payment_history=[Transaction(kind="payment", amount=total, payment_id=payment.id)],
        created_at=created.isoformat(),
        total_baggages=bags,
        nonfree_baggages=nonfree,
        insurance=insurance,
    )
    if rng.random() < 0.08:
        reservation.status = "cancelled"
        reservation.cancel_reason = rng.choice(["change of plan", "other"])
        reservation.payment_history.append(
            Transaction(kind="refund", amount=total, payment_id=payment.id)
        )
    return reservation


def _disrupt(rng: random.Random, db: AirlineDB) -> None:
    """The airline delays or cancels some near-term flights: half of the booked ones,
    and some others."""
    near = [day(TODAY + timedelta(days=k)) for k in range(1, 6)]
    booked = {
        (f.flight_number, f.date)
        for r in db.reservations.values()
        for f in r.flights
        if f.date in near
    }
    for number in sorted(db.flights):
        for when in near:
            if rng.random() < (0.5 if (number, when) in booked else 0.1):
                entry = db.flights[number].dates[when]
                entry.status = "cancelled" if rng.random() < 0.4 else "delayed"
                entry.available_seats = {c: 0 for c in CABINS}


def generate_database(seed: int) -> AirlineDB:
    """The airline of `seed`: 10 airports, about 30 flights on 23 days, 50 users with one
    to four reservations each. Deterministic in `seed` (one `random.Random(seed)`)."""
    rng = random.Random(seed)
    used: set[str] = set()
    airports = {code: Airport(code=code, city=city) for code, city in _AIRPORTS}
    flights = _flights(rng)
    db = AirlineDB(airports=airports, flights=flights, users=_users(rng, used), reservations={})
    people = [
        Passenger(
            first_name=rng.choice(_FIRST),
            last_name=rng.choice(_LAST),
            dob=day(date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))),
        )
        for _ in range(60)
    ]
    for user in db.users.values():
        companions = rng.sample(people, k=3)
        made = [_reservation(rng, db, user, used, companions) for _ in range(rng.randint(1, 4))]
        for reservation in sorted(made, key=lambda r: r.created_at):
            db.reservations[reservation.reservation_id] = reservation
            user.reservations.append(reservation.reservation_id)
    _disrupt(rng, db)
    return db
