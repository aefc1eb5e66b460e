"""The airline's tools as the agent sees them: look-ups, a calculator, the consequential
actions of `_actions`, and the hand-off to a human agent; each with its JSON schema."""

from __future__ import annotations

import ast
import json
import operator
from collections.abc import Callable
from typing import Any

from palaestra.envs.tooluse._domain import DomainTool
from palaestra.envs.tooluse.airline._actions import (
    book_reservation,
    cancel_reservation,
    find_reservation,
    find_user,
    send_certificate,
    update_reservation_baggages,
    update_reservation_flights,
    update_reservation_passengers,
)
from palaestra.envs.tooluse.airline._db import (
    CABINS,
    CANCEL_REASONS,
    MAX_PASSENGERS,
    AirlineDB,
)


def get_user_details(db: AirlineDB, user_id: str) -> str:
    user = find_user(db, user_id)
    return user if isinstance(user, str) else user.model_dump_json()


def get_reservation_details(db: AirlineDB, reservation_id: str) -> str:
    reservation = find_reservation(db, reservation_id)
    return reservation if isinstance(reservation, str) else reservation.model_dump_json()


def list_airports(db: AirlineDB) -> str:
    return json.dumps([{"code": a.code, "city": a.city} for a in db.airports.values()])


def search_direct_flights(db: AirlineDB, origin: str, destination: str, date: str) -> str:
    for code in (origin, destination):
        if code not in db.airports:
            return f"Error: unknown airport code {code!r}; list_airports gives the codes"
    found = []
    for flight in db.flights.values():
        entry = flight.dates.get(date)
        if (flight.origin, flight.destination) != (origin, destination) or entry is None:
            continue
        if entry.status == "scheduled":
            found.append(
                {
                    "flight_number": flight.flight_number,
                    "departure_time": flight.departure_time,
                    "arrival_time": flight.arrival_time,
                    "available_seats": entry.available_seats,
                    "prices": entry.prices,
                }
            )
    return json.dumps(found)


def get_flight_status(db: AirlineDB, flight_number: str, date: str) -> str:
    flight = db.flights.get(flight_number)
    if flight is None:
        return f"Error: flight {flight_number!r} not found"
    entry = flight.dates.get(date)
    if entry is None:
        return f"Error: flight {flight_number} does not fly on {date!r} (dates are YYYY-MM-DD)"
    return json.dumps(
        {
            "flight_number": flight_number,
            "date": date,
            "origin": flight.origin,
            "destination": flight.destination,
            "departure_time": flight.departure_time,
            "arrival_time": flight.arrival_time,
            "status": entry.status,
        }
    )


_OPERATORS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if not isinstance(node.value, bool):
            return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ValueError("only numbers, + - * / and parentheses are allowed")


def calculate(db: AirlineDB, expression: str) -> str:
    try:
        value = _evaluate(ast.parse(expression, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError) as exc:
        return f"Error: cannot calculate {expression!r}: {exc}"
    return f"{round(value, 2):.2f}"


def transfer_to_human_agents(db: AirlineDB, summary: str) -> str:
    return "Transfer successful. A human agent will continue the conversation."


# --- schemas ----------------------------------------------------------------------------


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


_DATE = {"type": "string", "pattern": r"\d{4}-\d{2}-\d{2}", "examples": ["2024-05-20"]}
_USER_ID = {"type": "string", "description": "The user id, such as 'sara_lopez_1234'."}
_RESERVATION_ID = {"type": "string", "description": "Six-character id, such as '4WQ15Z'."}
_AIRPORT = {"type": "string", "description": "Three-letter airport code, such as 'JFK'."}
_CABIN = {"type": "string", "enum": list(CABINS), "description": "Cabin class."}
_PAYMENT_ID = {
    "type": "string",
    "description": "A payment method id of the user, such as 'credit_card_1234567'.",
}
_BAGS = {"type": "integer", "minimum": 0}
_FLIGHTS = {
    "type": "array",
    "minItems": 1,
    "maxItems": 2,
    "description": "The outbound flight, then (round trip) the return flight.",
    "items": _schema(
        {
            "flight_number": {"type": "string", "description": "Such as 'HAT042'."},
            "date": {**_DATE, "description": "Departure date, YYYY-MM-DD."},
        }
    ),
}
_PASSENGERS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_PASSENGERS,
    "items": _schema(
        {
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "dob": {**_DATE, "description": "Date of birth, YYYY-MM-DD."},
        }
    ),
}

TOOLS: tuple[DomainTool, ...] = (
    DomainTool(
        "get_user_details",
        "Get a user's profile: name, email, date of birth, membership level, payment "
        "methods (with gift card balances and certificate values) and reservation ids.",
        _schema({"user_id": _USER_ID}),
        get_user_details,
    ),
    DomainTool(
        "get_reservation_details",
        "Get a reservation: route, trip type, cabin, flights (number, date, price paid per "
        "passenger), passengers, bags, insurance, payment history, creation time, status.",
        _schema({"reservation_id": _RESERVATION_ID}),
        get_reservation_details,
    ),
    DomainTool(
        "list_airports",
        "List every airport the airline serves: code and city.",
        _schema({}),
        list_airports,
    ),
    DomainTool(
        "search_direct_flights",
        "Find the scheduled direct flights between two airports on a date, with their "
        "times, free seats and price per passenger in each cabin.",
        _schema({"origin": _AIRPORT, "destination": _AIRPORT, "date": _DATE}),
        search_direct_flights,
    ),
    DomainTool(
        "get_flight_status",
        "Get a flight's status on a date (scheduled, delayed, cancelled or landed), with "
        "its route and times.",
        _schema({"flight_number": {"type": "string"}, "date": _DATE}),
        get_flight_status,
    ),
    DomainTool(
        "book_reservation",
        "Book a new reservation for the user and charge its price (flights times "
        "passengers, plus insurance and paid bags) to one payment method. Ask the customer "
        "to confirm every detail first.",
        _schema(
            {
                "user_id": _USER_ID,
                "origin": _AIRPORT,
                "destination": _AIRPORT,
                "flight_type": {"type": "string", "enum": ["one_way", "round_trip"]},
                "cabin": _CABIN,
                "flights": _FLIGHTS,
                "passengers": _PASSENGERS,
                "payment_id": _PAYMENT_ID,
                "total_baggages": _BAGS,
                "nonfree_baggages": {**_BAGS, "description": "Bags beyond the free allowance."},
                "insurance": {"type": "boolean", "description": "Buy travel insurance."},
            }
        ),
        book_reservation,
    ),
    DomainTool(
        "cancel_reservation",
        "Cancel a whole reservation and refund its payments to their original methods "
        "(credit cards in 5-7 business days, gift cards at once; certificates are not "
        "refunded). Check the policy first; ask the customer to confirm.",
        _schema(
            {
                "reservation_id": _RESERVATION_ID,
                "reason": {"type": "string", "enum": list(CANCEL_REASONS)},
            }
        ),
        cancel_reservation,
    ),
    DomainTool(
        "update_reservation_flights",
        "Change the flights and/or the cabin of a reservation (every flight, kept or new, "
        "in the given cabin). The price difference for all passengers is charged to, or "
        "refunded to, the given payment method (a credit card or gift card).",
        _schema(
            {
                "reservation_id": _RESERVATION_ID,
                "cabin": _CABIN,
                "flights": _FLIGHTS,
                "payment_id": _PAYMENT_ID,
            }
        ),
        update_reservation_flights,
    ),
    DomainTool(
        "update_reservation_baggages",
        "Set the number of checked bags of a reservation (bags can only be added); the "
        "new paid bags cost 50.00 each, charged to the given credit card or gift card.",
        _schema(
            {
                "reservation_id": _RESERVATION_ID,
                "total_baggages": _BAGS,
                "nonfree_baggages": {**_BAGS, "description": "Bags beyond the free allowance."},
                "payment_id": _PAYMENT_ID,
            }
        ),
        update_reservation_baggages,
    ),
    DomainTool(
        "update_reservation_passengers",
        "Replace the passengers' details of a reservation (same number of passengers, in "
        "the same order: give every passenger, corrected).",
        _schema({"reservation_id": _RESERVATION_ID, "passengers": _PASSENGERS}),
        update_reservation_passengers,
    ),
    DomainTool(
        "send_certificate",
        "Send the user a travel certificate worth `amount` dollars (a new payment method "
        "for future bookings), as compensation under the policy.",
        _schema({"user_id": _USER_ID, "amount": {"type": "number", "minimum": 1}}),
        send_certificate,
    ),
    DomainTool(
        "calculate",
        "Evaluate an arithmetic expression (numbers, + - * / and parentheses); the result "
        "has two decimals.",
        _schema({"expression": {"type": "string", "description": "E.g. '2 * (120 + 30)'."}}),
        calculate,
    ),
    DomainTool(
        "transfer_to_human_agents",
        "Hand the customer over to a human agent, with a summary of the issue. Only when the "
        "request cannot be handled with the other tools under the policy. Ends the "
        "conversation.",
        _schema({"summary": {"type": "string", "description": "The customer's issue."}}),
        transfer_to_human_agents,
        terminates=True,
    ),
)
