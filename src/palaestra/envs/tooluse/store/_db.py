"""The store's database: users, products (with variant items) and orders, generated
deterministically from a seed.

Money is in US dollars as floats rounded to cents (as in tau-bench's retail data); every
total is computed by `round(..., 2)` so the same operations give the same hash.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OrderStatus = Literal["pending", "processing", "delivered", "cancelled", "returned"]
PaymentSource = Literal["credit_card", "paypal", "gift_card"]
CANCEL_REASONS = ("no longer needed", "ordered by mistake")
"""The only reasons `cancel_pending_order` accepts."""
FREE_SHIPPING_FROM = 50.0
SHIPPING_FEE = 5.99


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(_Record):
    address1: str
    """Street and number."""
    address2: str = ""
    """Apartment, suite... (may be empty)."""
    city: str
    state: str
    """Two-letter state code."""
    country: str
    zip: str
    """Five-digit zip code."""


class Name(_Record):
    first_name: str
    last_name: str


class PaymentMethod(_Record):
    id: str
    """E.g. `credit_card_1234567`, `paypal_1234567`, `gift_card_1234567`."""
    source: PaymentSource
    brand: str | None = None
    """Card brand (credit cards only)."""
    last_four: str | None = None
    """Last four digits (credit cards only)."""
    balance: float | None = None
    """Remaining balance in dollars (gift cards only)."""


class User(_Record):
    user_id: str
    name: Name
    email: str
    address: Address
    payment_methods: dict[str, PaymentMethod]
    """By payment method id; at most one method of each source."""
    orders: list[str] = Field(default_factory=list)
    """Ids of the user's orders, oldest first."""


class Variant(_Record):
    item_id: str
    options: dict[str, str]
    price: float
    stock: int
    """Units in the warehouse; 0 means unavailable for new orders."""


class Product(_Record):
    product_id: str
    name: str
    variants: dict[str, Variant]
    """By item id."""


class OrderItem(_Record):
    item_id: str
    product_id: str
    name: str
    options: dict[str, str]
    price: float


class Transaction(_Record):
    transaction_type: Literal["payment", "refund"]
    amount: float
    payment_method_id: str


class Order(_Record):
    order_id: str
    """E.g. `#W1234567` (with the `#`)."""
    user_id: str
    address: Address
    """Shipping address."""
    items: list[OrderItem]
    """One item per product (an order never holds two variants of one product)."""
    status: OrderStatus
    payment_method_id: str
    """The method the order was paid with."""
    subtotal: float
    shipping: float
    total: float
    payment_history: list[Transaction]
    cancel_reason: str | None = None
    return_items: list[str] = Field(default_factory=list)
    """Item ids returned (sorted)."""
    return_payment_method_id: str | None = None


class StoreDB(_Record):
    """The whole store: what the tools read and change."""

    users: dict[str, User]
    products: dict[str, Product]
    orders: dict[str, Order]


# --- generation -------------------------------------------------------------------------

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
_STREETS = [
    "Oak Street", "Maple Avenue", "Pine Road", "Cedar Lane", "Elm Street", "Lake Drive",
    "Hill Road", "River Street", "Park Avenue", "Sunset Boulevard", "Main Street",
    "Willow Way",
]  # fmt: skip
_CITIES = [
    ("Springfield", "IL", "627"), ("Portland", "OR", "972"), ("Austin", "TX", "787"),
    ("Denver", "CO", "802"), ("Madison", "WI", "537"), ("Boston", "MA", "021"),
    ("Phoenix", "AZ", "850"), ("Raleigh", "NC", "276"), ("Columbus", "OH", "432"),
    ("Seattle", "WA", "981"),
]  # fmt: skip
_CATALOGUE: list[tuple[str, float, dict[str, list[str]]]] = [
    ("T-Shirt", 19.0, {"color": ["black", "white", "navy", "red"], "size": ["S", "M", "L"]}),
    ("Running Shoes", 89.0, {"size": ["8", "9", "10", "11"], "color": ["black", "grey"]}),
    ("Desk Lamp", 34.0, {"color": ["white", "black", "brass"], "bulb": ["LED", "halogen"]}),
    ("Water Bottle", 15.0, {"capacity": ["500ml", "750ml"], "material": ["steel", "glass"]}),
    ("Headphones", 129.0, {"color": ["black", "silver"], "style": ["over-ear", "in-ear"]}),
    ("Backpack", 59.0, {"color": ["black", "green", "grey"], "capacity": ["20L", "30L"]}),
    ("Coffee Maker", 79.0, {"type": ["drip", "espresso", "pour-over"], "color": ["black"]}),
    ("Notebook", 7.0, {"size": ["A5", "A4"], "ruling": ["lined", "dotted", "blank"]}),
    ("Yoga Mat", 29.0, {"thickness": ["4mm", "6mm"], "color": ["purple", "teal", "black"]}),
    ("Wireless Mouse", 25.0, {"color": ["black", "white"], "connection": ["bluetooth", "USB"]}),
    ("Sunglasses", 45.0, {"frame": ["plastic", "metal"], "lens": ["polarized", "tinted"]}),
    ("Jigsaw Puzzle", 22.0, {"pieces": ["500", "1000", "2000"], "theme": ["animals", "art"]}),
    ("Office Chair", 189.0, {"color": ["black", "grey"], "armrests": ["fixed", "adjustable"]}),
    ("Electric Kettle", 39.0, {"capacity": ["1L", "1.7L"], "material": ["glass", "steel"]}),
]  # fmt: skip
_STATUS_WEIGHTS: dict[OrderStatus, int] = {
    "pending": 30,
    "processing": 15,
    "delivered": 35,
    "cancelled": 10,
    "returned": 10,
}
NUM_USERS = 30


def random_address(rng: random.Random) -> Address:
    """A plausible US address."""
    city, state, zip_prefix = rng.choice(_CITIES)
    return Address(
        address1=f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
        address2=f"Apt {rng.randint(1, 40)}" if rng.random() < 0.4 else "",
        city=city,
        state=state,
        country="USA",
        zip=f"{zip_prefix}{rng.randint(0, 99):02d}",
    )


def _digits(rng: random.Random, n: int, used: set[str]) -> str:
    while True:
        text = str(rng.randrange(10 ** (n - 1), 10**n))
        if text not in used:
            used.add(text)
            return text


def _products(rng: random.Random, used: set[str]) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for name, base, options in _CATALOGUE:
        combos: list[dict[str, str]] = [{}]
        for key, values in options.items():
            combos = [{**combo, key: value} for combo in combos for value in values]
        variants = {}
        for combo in rng.sample(combos, k=min(len(combos), rng.randint(3, 4))):
            item_id = _digits(rng, 10, used)
            price = round(base * rng.uniform(0.9, 1.25), 2)
            variants[item_id] = Variant(
                item_id=item_id, options=combo, price=price, stock=rng.randint(0, 40)
            )
        product_id = _digits(rng, 10, used)
        products[product_id] = Product(product_id=product_id, name=name, variants=variants)
    return products


def _users(rng: random.Random, used: set[str]) -> dict[str, User]:
    users: dict[str, User] = {}
    names = rng.sample([(f, last) for f in _FIRST for last in _LAST], k=NUM_USERS)
    for first, last in names:
        number = _digits(rng, 4, used)
        user_id = f"{first.lower()}_{last.lower()}_{number}"
        methods: dict[str, PaymentMethod] = {}
        sources = [s for s in ("credit_card", "paypal", "gift_card") if rng.random() < 0.6]
        for source in sources or ["credit_card"]:
            method_id = f"{source}_{_digits(rng, 7, used)}"
            if source == "credit_card":
                method = PaymentMethod(
                    id=method_id,
                    source="credit_card",
                    brand=rng.choice(["visa", "mastercard"]),
                    last_four=f"{rng.randint(0, 9999):04d}",
                )
            elif source == "gift_card":
                balance = round(rng.uniform(0, 300), 2)
                method = PaymentMethod(id=method_id, source="gift_card", balance=balance)
            else:
                method = PaymentMethod(id=method_id, source="paypal")
            methods[method_id] = method
        users[user_id] = User(
            user_id=user_id,
            name=Name(first_name=first, last_name=last),
            email=f"{first.lower()}.{last.lower()}{number[-2:]}@example.com",
            address=random_address(rng),
            payment_methods=methods,
        )
    return users


def _order(
    rng: random.Random,
    order_id: str,
    user: User,
    products: dict[str, Product],
    status: OrderStatus,
) -> Order:
    items = []
    for product in rng.sample(list(products.values()), k=rng.choice([1, 1, 2, 2, 3, 4])):
        variant = rng.choice(list(product.variants.values()))
        items.append(
            OrderItem(
                item_id=variant.item_id,
                product_id=product.product_id,
                name=product.name,
                options=dict(variant.options),
                price=variant.price,
            )
        )
    subtotal = round(sum(item.price for item in items), 2)
    shipping = 0.0 if subtotal >= FREE_SHIPPING_FROM else SHIPPING_FEE
    total = round(subtotal + shipping, 2)
    method_id = rng.choice(list(user.payment_methods))
    order = Order(
        order_id=order_id,
        user_id=user.user_id,
        address=user.address.model_copy() if rng.random() < 0.8 else random_address(rng),
        items=items,
        status=status,
        payment_method_id=method_id,
        subtotal=subtotal,
        shipping=shipping,
        total=total,
        payment_history=[
            Transaction(transaction_type="payment", amount=total, payment_method_id=method_id)
        ],
    )
    if status == "cancelled":
        order.cancel_reason = rng.choice(CANCEL_REASONS)
        order.payment_history.append(
            Transaction(transaction_type="refund", amount=total, payment_method_id=method_id)
        )
    elif status == "returned":
        returned = rng.sample(items, k=rng.randint(1, len(items)))
        order.return_items = sorted(item.item_id for item in returned)
        order.return_payment_method_id = method_id
        amount = round(sum(item.price for item in returned), 2)
        order.payment_history.append(
            Transaction(transaction_type="refund", amount=amount, payment_method_id=method_id)
        )
    return order


def generate_database(seed: int) -> StoreDB:
    """The store of `seed`: 30 users, 14 products, 1-3 orders per user.

    Deterministic in `seed` (one `random.Random(seed)`); at least one order is pending
    and one delivered, so every task intent has something to act on.
    """
    rng = random.Random(seed)
    used: set[str] = set()
    products = _products(rng, used)
    users = _users(rng, used)
    counts = [rng.randint(1, 3) for _ in users]
    statuses: list[OrderStatus] = rng.choices(
        list(_STATUS_WEIGHTS), weights=list(_STATUS_WEIGHTS.values()), k=sum(counts)
    )
    statuses[0], statuses[1] = "pending", "delivered"
    orders: dict[str, Order] = {}
    position = 0
    for user, count in zip(users.values(), counts, strict=True):
        for _ in range(count):
            order_id = f"#W{_digits(rng, 7, used)}"
            orders[order_id] = _order(rng, order_id, user, products, statuses[position])
            user.orders.append(order_id)
            position += 1
    return StoreDB(users=users, products=products, orders=orders)
