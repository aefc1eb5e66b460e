"""The store's tools: look-ups and the three consequential actions (cancel, change the
shipping address, return items), plus the hand-off to a human agent.

Each function takes the database and the (schema-validated) arguments and returns JSON
text, or `Error: ...` when the call contradicts the database or the policy: unknown id,
wrong order status, a payment method the refund may not go to. A rejected call changes
nothing.
"""

from __future__ import annotations

import json
from typing import Any

from palaestra.envs.tooluse._domain import DomainTool
from palaestra.envs.tooluse.store._db import (
    CANCEL_REASONS,
    Address,
    Order,
    StoreDB,
    Transaction,
)

_ORDER_ID = {
    "type": "string",
    "description": "The order id, such as '#W1234567' (note the leading '#').",
}
_USER_ID = {"type": "string", "description": "The user id, such as 'sara_lopez_1234'."}


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _order(db: StoreDB, order_id: str) -> Order | str:
    order = db.orders.get(order_id)
    if order is None:
        hint = " (order ids start with '#')" if not order_id.startswith("#") else ""
        return f"Error: order {order_id!r} not found{hint}"
    return order


def _refund(db: StoreDB, order: Order, amount: float, method_id: str) -> None:
    """Record a refund; a gift card is credited at once, other methods in 5-7 days."""
    order.payment_history.append(
        Transaction(transaction_type="refund", amount=amount, payment_method_id=method_id)
    )
    method = db.users[order.user_id].payment_methods[method_id]
    if method.source == "gift_card":
        method.balance = round((method.balance or 0.0) + amount, 2)


def find_user_id_by_email(db: StoreDB, email: str) -> str:
    for user in db.users.values():
        if user.email.lower() == email.strip().lower():
            return user.user_id
    return "Error: no user with this email"


def find_user_id_by_name_zip(db: StoreDB, first_name: str, last_name: str, zip: str) -> str:
    for user in db.users.values():
        if (
            user.name.first_name.lower() == first_name.strip().lower()
            and user.name.last_name.lower() == last_name.strip().lower()
            and user.address.zip == zip.strip()
        ):
            return user.user_id
    return "Error: no user with this name and zip code"


def get_user_details(db: StoreDB, user_id: str) -> str:
    user = db.users.get(user_id)
    if user is None:
        return f"Error: user {user_id!r} not found"
    return user.model_dump_json()


def list_user_orders(db: StoreDB, user_id: str) -> str:
    user = db.users.get(user_id)
    if user is None:
        return f"Error: user {user_id!r} not found"
    summary = [
        {
            "order_id": order_id,
            "status": db.orders[order_id].status,
            "items": [item.name for item in db.orders[order_id].items],
        }
        for order_id in user.orders
    ]
    return json.dumps(summary)


def get_order_details(db: StoreDB, order_id: str) -> str:
    order = _order(db, order_id)
    return order if isinstance(order, str) else order.model_dump_json()


def get_product_details(db: StoreDB, product_id: str) -> str:
    product = db.products.get(product_id)
    if product is None:
        return f"Error: product {product_id!r} not found (product ids are not item ids)"
    return product.model_dump_json()


def cancel_pending_order(db: StoreDB, order_id: str, reason: str) -> str:
    order = _order(db, order_id)
    if isinstance(order, str):
        return order
    if order.status != "pending":
        return f"Error: order {order_id} is {order.status}; only pending orders can be cancelled"
    if reason not in CANCEL_REASONS:
        return f"Error: invalid reason {reason!r}; use one of {list(CANCEL_REASONS)}"
    for payment in [t for t in order.payment_history if t.transaction_type == "payment"]:
        _refund(db, order, payment.amount, payment.payment_method_id)
    order.status = "cancelled"
    order.cancel_reason = reason
    return order.model_dump_json()


def modify_pending_order_address(
    db: StoreDB,
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> str:
    order = _order(db, order_id)
    if isinstance(order, str):
        return order
    if order.status != "pending":
        return f"Error: order {order_id} is {order.status}; only pending orders can be modified"
    if not (len(zip) == 5 and zip.isdigit()):
        return f"Error: zip code must be five digits, got {zip!r}"
    order.address = Address(
        address1=address1, address2=address2, city=city, state=state, country=country, zip=zip
    )
    return order.model_dump_json()


def return_delivered_order_items(
    db: StoreDB, order_id: str, item_ids: list[str], payment_method_id: str
) -> str:
    order = _order(db, order_id)
    if isinstance(order, str):
        return order
    if order.status != "delivered":
        return f"Error: order {order_id} is {order.status}; only delivered orders can be returned"
    if not item_ids:
        return "Error: item_ids must name at least one item"
    in_order = [item.item_id for item in order.items]
    for item_id in item_ids:
        if item_ids.count(item_id) > in_order.count(item_id):
            return f"Error: item {item_id!r} is not in order {order_id} (or is listed twice)"
    methods = db.users[order.user_id].payment_methods
    if payment_method_id not in methods:
        return f"Error: payment method {payment_method_id!r} not found for this user"
    if (
        payment_method_id != order.payment_method_id
        and methods[payment_method_id].source != "gift_card"
    ):
        return (
            "Error: the refund must go to the original payment method "
            f"({order.payment_method_id}) or a gift card"
        )
    amount = round(sum(item.price for item in order.items if item.item_id in item_ids), 2)
    order.status = "returned"
    order.return_items = sorted(item_ids)
    order.return_payment_method_id = payment_method_id
    _refund(db, order, amount, payment_method_id)
    return order.model_dump_json()


def transfer_to_human_agents(db: StoreDB, summary: str) -> str:
    return "Transfer successful. A human agent will continue the conversation."


TOOLS: tuple[DomainTool, ...] = (
    DomainTool(
        "find_user_id_by_email",
        "Find a user's id from their email address. Use it to authenticate the customer.",
        _schema({"email": {"type": "string", "description": "Email, e.g. 'a.b12@example.com'."}}),
        find_user_id_by_email,
    ),
    DomainTool(
        "find_user_id_by_name_zip",
        "Find a user's id from their first name, last name and zip code (to authenticate "
        "a customer who does not give an email).",
        _schema(
            {
                "first_name": {"type": "string", "description": "First name, e.g. 'Sara'."},
                "last_name": {"type": "string", "description": "Last name, e.g. 'Lopez'."},
                "zip": {"type": "string", "description": "Five-digit zip code."},
            }
        ),
        find_user_id_by_name_zip,
    ),
    DomainTool(
        "get_user_details",
        "Get a user's profile: name, email, default address and payment methods (with "
        "gift card balances).",
        _schema({"user_id": _USER_ID}),
        get_user_details,
    ),
    DomainTool(
        "list_user_orders",
        "List a user's orders: id, status and product names of each.",
        _schema({"user_id": _USER_ID}),
        list_user_orders,
    ),
    DomainTool(
        "get_order_details",
        "Get an order: items (item id, product, options, price), status, shipping address, "
        "payment method, subtotal, shipping fee, total and payment history.",
        _schema({"order_id": _ORDER_ID}),
        get_order_details,
    ),
    DomainTool(
        "get_product_details",
        "Get a product and its variant items (options, price, stock) from its product id.",
        _schema({"product_id": {"type": "string", "description": "Product id (not item id)."}}),
        get_product_details,
    ),
    DomainTool(
        "cancel_pending_order",
        "Cancel a pending order. The order becomes 'cancelled' and the total is refunded to "
        "the original payment method: at once for a gift card, else in 5-7 business days. "
        "Ask the customer to confirm the order id and reason first.",
        _schema(
            {
                "order_id": _ORDER_ID,
                "reason": {
                    "type": "string",
                    "enum": list(CANCEL_REASONS),
                    "description": "Why the customer cancels.",
                },
            }
        ),
        cancel_pending_order,
    ),
    DomainTool(
        "modify_pending_order_address",
        "Change the shipping address of a pending order. Ask the customer to confirm the "
        "full new address first.",
        _schema(
            {
                "order_id": _ORDER_ID,
                "address1": {"type": "string", "description": "Street and number."},
                "address2": {"type": "string", "description": "Apartment etc., or ''."},
                "city": {"type": "string", "description": "City."},
                "state": {"type": "string", "description": "Two-letter state code."},
                "country": {"type": "string", "description": "Country, e.g. 'USA'."},
                "zip": {"type": "string", "description": "Five-digit zip code."},
            }
        ),
        modify_pending_order_address,
    ),
    DomainTool(
        "return_delivered_order_items",
        "Return some items of a delivered order. The order becomes 'returned' and the price "
        "of the returned items is refunded to the given payment method, which must be the "
        "order's original payment method or a gift card of the user (a gift card is "
        "credited at once). Ask the customer to confirm the items and refund method first.",
        _schema(
            {
                "order_id": _ORDER_ID,
                "item_ids": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Item ids to return (from the order details).",
                },
                "payment_method_id": {
                    "type": "string",
                    "description": "Refund destination, e.g. 'gift_card_1234567'.",
                },
            }
        ),
        return_delivered_order_items,
    ),
    DomainTool(
        "transfer_to_human_agents",
        "Hand the customer over to a human agent, with a summary of the issue. Only when the "
        "request cannot be handled with the other tools. Ends the conversation.",
        _schema({"summary": {"type": "string", "description": "The customer's issue."}}),
        transfer_to_human_agents,
        terminates=True,
    ),
)
