"""The store's task generator: customer requests with their ground truth.

Four intents, taken in turn (task `i` has intent `INTENTS[i % 4]`):

- `cancel`: cancel a pending order for one of the two accepted reasons;
- `modify_address`: ship a pending order to a new address;
- `return`: return some items of a delivered order, refund to the original payment
  method or the customer's gift card;
- `lookup`: tell the status and total of an order (given by id, or by a product it holds,
  which needs `list_user_orders`); judged by the required outputs.

Every request starts with authentication (by email or by name and zip code, as the
customer offers) and a look-up of the order, as the policy requires. Orders are drawn
without replacement per intent (the pool is refilled if `num_tasks` exceeds it); a
request that repeats an earlier one word for word is drawn again.
"""

from __future__ import annotations

import random

from pydantic import BaseModel

from palaestra.core import derive_seed
from palaestra.envs.tooluse._domain import ExpectedCall, Task
from palaestra.envs.tooluse.store._db import CANCEL_REASONS, Order, StoreDB, User, random_address

INTENTS = ("cancel", "modify_address", "return", "lookup")
_ELIGIBLE = {
    "cancel": ("pending",),
    "modify_address": ("pending",),
    "return": ("delivered",),
    "lookup": ("pending", "processing", "delivered", "cancelled", "returned"),
}
_REASON_WORDS = {
    "no longer needed": "I no longer need it",
    "ordered by mistake": "I ordered it by mistake",
}
_SOURCE_WORDS = {"credit_card": "my credit card", "paypal": "my PayPal account"}
_REDRAWS = 20
"""Draws tried for a task whose request repeats an earlier one (pools are refilled when
`num_tasks` exceeds them), before the repeat is accepted."""


_Built = tuple[str, list[ExpectedCall], list[str]]
"""(customer's request text, ground-truth calls after authentication, required outputs)"""


def _call(name: str, **arguments: object) -> ExpectedCall:
    return ExpectedCall(name=name, arguments=arguments)


def _identify(rng: random.Random, user: User) -> tuple[str, ExpectedCall]:
    """How the customer introduces themself, and the authentication call it leads to."""
    full = f"{user.name.first_name} {user.name.last_name}"
    if rng.random() < 0.5:
        return f"Hi, this is {full}, my email is {user.email}.", _call(
            "find_user_id_by_email", email=user.email
        )
    return f"Hi, I'm {full} and my zip code is {user.address.zip}.", _call(
        "find_user_id_by_name_zip",
        first_name=user.name.first_name,
        last_name=user.name.last_name,
        zip=user.address.zip,
    )


def _describe_item(name: str, options: dict[str, str]) -> str:
    return f"{name} ({', '.join(f'{k}: {v}' for k, v in options.items())})"


def _cancel(rng: random.Random, db: StoreDB, order: Order, hello: str) -> _Built:
    reason = rng.choice(CANCEL_REASONS)
    text = f"{hello} Please cancel my order {order.order_id}, because {_REASON_WORDS[reason]}."
    calls = [
        _call("get_order_details", order_id=order.order_id),
        _call("cancel_pending_order", order_id=order.order_id, reason=reason),
    ]
    return text, calls, []


def _modify_address(rng: random.Random, db: StoreDB, order: Order, hello: str) -> _Built:
    new = random_address(rng)
    while new == order.address:
        new = random_address(rng)
    where = ", ".join(
        part for part in (new.address1, new.address2, new.city, f"{new.state} {new.zip}") if part
    )
    text = (
        f"{hello} I need my order {order.order_id} shipped to a different address: "
        f"{where}, {new.country}."
    )
    calls = [
        _call("get_order_details", order_id=order.order_id),
        _call("modify_pending_order_address", order_id=order.order_id, **new.model_dump()),
    ]
    return text, calls, []


def _return(rng: random.Random, db: StoreDB, order: Order, hello: str) -> _Built:
    items = rng.sample(order.items, k=rng.randint(1, len(order.items)))
    items.sort(key=lambda item: order.items.index(item))
    methods = db.users[order.user_id].payment_methods
    gift = [m for m in methods.values() if m.source == "gift_card"]
    original = methods[order.payment_method_id]
    if gift and gift[0].id != original.id and rng.random() < 0.5:
        target, where = gift[0].id, "my gift card"
    else:
        target = original.id
        where = (
            "my gift card"
            if original.source == "gift_card"
            else f"the original payment method ({_SOURCE_WORDS[original.source]})"
        )
    names = " and ".join(_describe_item(item.name, item.options) for item in items)
    text = (
        f"{hello} I'd like to return the {names} from my order {order.order_id}. "
        f"Please refund it to {where}."
    )
    calls = [
        _call("get_order_details", order_id=order.order_id),
        _call(
            "return_delivered_order_items",
            order_id=order.order_id,
            item_ids=[item.item_id for item in items],
            payment_method_id=target,
        ),
    ]
    return text, calls, []


def _lookup(rng: random.Random, db: StoreDB, order: Order, hello: str) -> _Built:
    user = db.users[order.user_id]
    others = [db.orders[o] for o in user.orders if o != order.order_id]
    unique = [
        item.name
        for item in order.items
        if not any(item.name == other.name for o in others for other in o.items)
    ]
    outputs = [order.status, f"{order.total:.2f}"]
    if unique and rng.random() < 0.5:
        text = (
            f"{hello} I don't have the order number at hand: what is the status and the "
            f"total of my order with the {unique[0]}?"
        )
        calls = [
            _call("list_user_orders", user_id=user.user_id),
            _call("get_order_details", order_id=order.order_id),
        ]
        return text, calls, outputs
    text = f"{hello} What is the status of my order {order.order_id}, and what was its total?"
    return text, [_call("get_order_details", order_id=order.order_id)], outputs


_BUILDERS = {
    "cancel": _cancel,
    "modify_address": _modify_address,
    "return": _return,
    "lookup": _lookup,
}


def generate_tasks(db: BaseModel, db_seed: int, num_tasks: int) -> list[Task]:
    """`num_tasks` tasks over `db`, deterministic in `db_seed` (db is not changed)."""
    assert isinstance(db, StoreDB)
    rng = random.Random(derive_seed(db_seed, "tooluse.store", "env", "tasks"))
    pools: dict[str, list[Order]] = {intent: [] for intent in INTENTS}
    seen: set[str] = set()
    tasks = []
    for index in range(num_tasks):
        intent = INTENTS[index % len(INTENTS)]
        for _ in range(_REDRAWS):
            if not pools[intent]:
                eligible = [o for o in db.orders.values() if o.status in _ELIGIBLE[intent]]
                pools[intent] = rng.sample(eligible, k=len(eligible))
            order = pools[intent].pop()
            user = db.users[order.user_id]
            hello, identify = _identify(rng, user)
            text, calls, outputs = _BUILDERS[intent](rng, db, order, hello)
            if text not in seen:
                break
        seen.add(text)
        tasks.append(
            Task(
                id=f"{intent}-{index:03d}",
                intent=intent,
                instruction=text,
                actions=[identify, *calls],
                outputs=outputs,
            )
        )
    return tasks
