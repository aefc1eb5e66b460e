"""The store's generated database and tasks: deterministic, consistent, solvable."""

from __future__ import annotations

from collections import Counter

import pytest

from palaestra.envs.tooluse import STORE, db_hash
from palaestra.envs.tooluse.store import INTENTS, generate_database, generate_tasks
from palaestra.envs.tooluse.store._db import FREE_SHIPPING_FROM, SHIPPING_FEE


def test_same_seed_same_database_and_other_seed_another() -> None:
    assert generate_database(3).model_dump() == generate_database(3).model_dump()
    assert db_hash(generate_database(3)) == db_hash(generate_database(3))
    assert db_hash(generate_database(3)) != db_hash(generate_database(4))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_database_is_consistent(seed: int) -> None:
    db = generate_database(seed)
    assert len(db.users) == 30 and len(db.products) == 14
    statuses = Counter(order.status for order in db.orders.values())
    assert statuses["pending"] >= 1 and statuses["delivered"] >= 1
    names = [(u.name.first_name, u.name.last_name) for u in db.users.values()]
    assert len(set(names)) == len(names), "name + zip must identify a user"
    assert len({u.email for u in db.users.values()}) == len(db.users)
    owned = [order_id for user in db.users.values() for order_id in user.orders]
    assert sorted(owned) == sorted(db.orders)
    for user in db.users.values():
        sources = [m.source for m in user.payment_methods.values()]
        assert sources and len(set(sources)) == len(sources)
        for method_id, method in user.payment_methods.items():
            assert method_id == method.id and method_id.startswith(method.source)
            assert (method.balance is not None) == (method.source == "gift_card")
    variants = {
        item_id: (product, variant)
        for product in db.products.values()
        for item_id, variant in product.variants.items()
    }
    for order_id, order in db.orders.items():
        assert order_id.startswith("#W") and order.order_id == order_id
        assert order_id in db.users[order.user_id].orders
        assert order.payment_method_id in db.users[order.user_id].payment_methods
        assert len({item.product_id for item in order.items}) == len(order.items)
        for item in order.items:
            product, variant = variants[item.item_id]
            assert (item.product_id, item.name) == (product.product_id, product.name)
            assert (item.price, item.options) == (variant.price, variant.options)
        assert order.subtotal == round(sum(item.price for item in order.items), 2)
        expected_shipping = 0.0 if order.subtotal >= FREE_SHIPPING_FROM else SHIPPING_FEE
        assert order.shipping == expected_shipping
        assert order.total == round(order.subtotal + order.shipping, 2)
        assert order.payment_history[0].amount == order.total
        refunds = [t for t in order.payment_history if t.transaction_type == "refund"]
        assert bool(refunds) == (order.status in ("cancelled", "returned"))


def test_tasks_are_deterministic_balanced_and_leave_the_database_alone() -> None:
    db = generate_database(0)
    before = db_hash(db)
    tasks = generate_tasks(db, 0, 20)
    assert db_hash(db) == before
    assert [t.model_dump() for t in tasks] == [t.model_dump() for t in STORE.build_tasks(0, 20)]
    assert [t.instruction for t in tasks] != [t.instruction for t in STORE.build_tasks(1, 20)]
    assert len({t.id for t in tasks}) == 20
    assert Counter(t.intent for t in tasks) == {intent: 5 for intent in INTENTS}
    for task in tasks:
        assert task.id.startswith(task.intent)
        assert task.actions[0].name in ("find_user_id_by_email", "find_user_id_by_name_zip")
        assert bool(task.outputs) == (task.intent == "lookup")


def test_instructions_carry_what_the_ground_truth_needs() -> None:
    db = generate_database(2)
    for task in generate_tasks(db, 2, 40):
        identify = task.actions[0].arguments
        for value in identify.values():
            assert value in task.instruction
        for call in task.actions[1:]:
            order_id = call.arguments.get("order_id")
            if order_id and task.intent != "lookup":
                assert order_id in task.instruction
        if task.intent == "cancel":
            reason = task.actions[-1].arguments["reason"]
            assert {"no longer needed": "no longer need", "ordered by mistake": "by mistake"}[
                reason
            ] in task.instruction
        if task.intent == "modify_address":
            args = task.actions[-1].arguments
            for key in ("address1", "address2", "city", "state", "zip", "country"):
                assert args[key] in task.instruction
        if task.intent == "return":
            order = db.orders[task.actions[-1].arguments["order_id"]]
            for item in order.items:
                returned = item.item_id in task.actions[-1].arguments["item_ids"]
                assert (f"{item.name} (" in task.instruction) == returned


def test_many_tasks_reuse_orders_without_failing() -> None:
    tasks = STORE.build_tasks(5, 300)
    assert len(tasks) == 300 and len({t.id for t in tasks}) == 300
