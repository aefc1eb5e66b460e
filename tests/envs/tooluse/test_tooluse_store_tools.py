"""The store's tools: what they change, and the error text they return for bad calls."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from palaestra.envs.tooluse import STORE, db_hash
from palaestra.envs.tooluse._schema import validate_arguments
from palaestra.envs.tooluse.store import generate_database
from palaestra.envs.tooluse.store._db import Order, StoreDB


def _find(predicate: Callable[[StoreDB, Order], bool]) -> tuple[StoreDB, Order]:
    """A fresh database (of the first seed that has one) and an order matching predicate."""
    for seed in range(40):
        db = generate_database(seed)
        for order in db.orders.values():
            if predicate(db, order):
                return db, order
    raise AssertionError("no order matches")


def _method(db: StoreDB, order: Order, source: str) -> str | None:
    for method in db.users[order.user_id].payment_methods.values():
        if method.source == source:
            return method.id
    return None


def test_find_user_by_email_and_by_name_zip() -> None:
    db = generate_database(0)
    user = next(iter(db.users.values()))
    by_email = STORE.execute(db, "find_user_id_by_email", {"email": user.email.upper()})
    assert by_email.content == user.user_id and not by_email.error
    by_name = STORE.execute(
        db,
        "find_user_id_by_name_zip",
        {"first_name": user.name.first_name, "last_name": user.name.last_name,
         "zip": user.address.zip},
    )  # fmt: skip
    assert by_name.content == user.user_id
    missing = STORE.execute(db, "find_user_id_by_email", {"email": "nobody@example.com"})
    assert missing.error and missing.content.startswith("Error:")


def test_lookups_return_json() -> None:
    db = generate_database(0)
    user = next(iter(db.users.values()))
    details = json.loads(STORE.execute(db, "get_user_details", {"user_id": user.user_id}).content)
    assert details["email"] == user.email
    orders = json.loads(STORE.execute(db, "list_user_orders", {"user_id": user.user_id}).content)
    assert [o["order_id"] for o in orders] == user.orders
    order = json.loads(STORE.execute(db, "get_order_details", {"order_id": user.orders[0]}).content)
    assert order["total"] == db.orders[user.orders[0]].total
    product_id = order["items"][0]["product_id"]
    product = json.loads(
        STORE.execute(db, "get_product_details", {"product_id": product_id}).content
    )
    assert order["items"][0]["item_id"] in product["variants"]
    not_product = STORE.execute(
        db, "get_product_details", {"product_id": order["items"][0]["item_id"]}
    )
    assert not_product.error and "not item ids" in not_product.content


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("get_order_details", {}, "missing required argument(s): order_id"),
        ("get_order_details", {"order_id": 7}, "must be a string"),
        ("get_order_details", {"order_id": "W123"}, "start with '#'"),
        ("get_order_details", {"order_id": "#W0", "verbose": True}, "unknown argument(s): verbose"),
        ("get_order_details", {"__raw__": "{oops"}, "not valid JSON"),
        ("cancel_pending_order", {"order_id": "#W0", "reason": "meh"}, "must be one of"),
        ("return_delivered_order_items",
         {"order_id": "#W0", "item_ids": [1], "payment_method_id": "x"}, "item_ids[0]"),
        ("delete_everything", {}, "unknown tool 'delete_everything'; available tools: find_user"),
        ("get_user_details", {"user_id": "nobody_0000"}, "not found"),
    ],
)  # fmt: skip
def test_bad_calls_return_errors_and_change_nothing(
    name: str, arguments: dict, expected: str
) -> None:
    db = generate_database(0)
    before = db_hash(db)
    outcome = STORE.execute(db, name, arguments)
    assert outcome.error and not outcome.terminates
    assert outcome.content.startswith("Error:") and expected in outcome.content
    assert db_hash(db) == before


def test_validate_arguments_accepts_a_good_call() -> None:
    schema = STORE.tool("return_delivered_order_items").parameters
    ok = {"order_id": "#W1", "item_ids": ["1", "2"], "payment_method_id": "gift_card_1"}
    assert validate_arguments(schema, ok) is None
    assert "item_ids" in validate_arguments(schema, {**ok, "item_ids": "1"})


def test_cancel_refunds_a_gift_card_at_once() -> None:
    db, order = _find(
        lambda db, o: (
            o.status == "pending"
            and db.users[o.user_id].payment_methods[o.payment_method_id].source == "gift_card"
        )
    )
    card = db.users[order.user_id].payment_methods[order.payment_method_id]
    balance = card.balance
    outcome = STORE.execute(
        db, "cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"}
    )
    assert not outcome.error
    assert order.status == "cancelled" and order.cancel_reason == "no longer needed"
    assert order.payment_history[-1].transaction_type == "refund"
    assert order.payment_history[-1].amount == order.total
    assert card.balance == round(balance + order.total, 2)
    again = STORE.execute(
        db, "cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"}
    )
    assert again.error and "only pending orders" in again.content


def test_cancel_by_card_refunds_later_and_non_pending_is_refused() -> None:
    db, order = _find(
        lambda db, o: (
            o.status == "pending"
            and db.users[o.user_id].payment_methods[o.payment_method_id].source == "credit_card"
        )
    )
    gift = _method(db, order, "gift_card")
    balance = db.users[order.user_id].payment_methods[gift].balance if gift else None
    STORE.execute(
        db, "cancel_pending_order", {"order_id": order.order_id, "reason": "ordered by mistake"}
    )
    assert order.status == "cancelled"
    if gift:
        assert db.users[order.user_id].payment_methods[gift].balance == balance
    db2, delivered = _find(lambda db, o: o.status == "delivered")
    before = db_hash(db2)
    refused = STORE.execute(
        db2, "cancel_pending_order", {"order_id": delivered.order_id, "reason": "no longer needed"}
    )
    assert refused.error and "is delivered" in refused.content
    assert db_hash(db2) == before


def test_modify_address_of_pending_order_only() -> None:
    db, order = _find(lambda db, o: o.status == "pending")
    new = {"address1": "1 New Road", "address2": "", "city": "Austin", "state": "TX",
           "country": "USA", "zip": "78701"}  # fmt: skip
    outcome = STORE.execute(db, "modify_pending_order_address", {"order_id": order.order_id, **new})
    assert not outcome.error and order.address.model_dump() == new
    bad_zip = STORE.execute(
        db, "modify_pending_order_address", {"order_id": order.order_id, **new, "zip": "7870"}
    )
    assert bad_zip.error and "five digits" in bad_zip.content
    db2, processing = _find(lambda db, o: o.status == "processing")
    refused = STORE.execute(
        db2, "modify_pending_order_address", {"order_id": processing.order_id, **new}
    )
    assert refused.error and "only pending orders" in refused.content


def test_return_to_gift_card_credits_the_returned_items() -> None:
    db, order = _find(
        lambda db, o: (
            o.status == "delivered"
            and len(o.items) >= 2
            and _method(db, o, "gift_card") not in (None, o.payment_method_id)
        )
    )
    gift = _method(db, order, "gift_card")
    card = db.users[order.user_id].payment_methods[gift]
    balance = card.balance
    items = [order.items[1].item_id, order.items[0].item_id]
    outcome = STORE.execute(
        db,
        "return_delivered_order_items",
        {"order_id": order.order_id, "item_ids": items, "payment_method_id": gift},
    )
    assert not outcome.error
    amount = round(order.items[0].price + order.items[1].price, 2)
    assert order.status == "returned" and order.return_items == sorted(items)
    assert order.return_payment_method_id == gift
    assert card.balance == round(balance + amount, 2)
    assert order.payment_history[-1].amount == amount


def test_return_refuses_bad_items_and_refund_targets() -> None:
    db, order = _find(
        lambda db, o: (
            o.status == "delivered"
            and any(
                m.source != "gift_card" and m.id != o.payment_method_id
                for m in db.users[o.user_id].payment_methods.values()
            )
        )
    )
    other = next(
        m.id
        for m in db.users[order.user_id].payment_methods.values()
        if m.source != "gift_card" and m.id != order.payment_method_id
    )
    item = order.items[0].item_id
    before = db_hash(db)

    def call(item_ids: list[str], method: str) -> str:
        args = {"order_id": order.order_id, "item_ids": item_ids, "payment_method_id": method}
        return STORE.execute(db, "return_delivered_order_items", args).content

    assert "original payment method" in call([item], other)
    assert "not found for this user" in call([item], "gift_card_0000000")
    assert "not in order" in call(["0000000000"], order.payment_method_id)
    assert "listed twice" in call([item, item], order.payment_method_id)
    assert "at least one item" in call([], order.payment_method_id)
    assert db_hash(db) == before


def test_transfer_terminates() -> None:
    db = generate_database(0)
    before = db_hash(db)
    outcome = STORE.execute(db, "transfer_to_human_agents", {"summary": "wants a refund"})
    assert outcome.terminates and not outcome.error
    assert db_hash(db) == before
    assert not STORE.execute(db, "transfer_to_human_agents", {}).terminates
