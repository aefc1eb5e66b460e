"""The airline's task generator: customer requests with their ground truth.

Eleven intents, taken in turn (task `i` has intent `INTENTS[i % 11]`, or the next one
whose pool is not empty in this database):

- `cancel`: cancel a reservation the policy lets the customer cancel (booked within 24
  hours, business cabin, a flight cancelled by the airline — checked with
  `get_flight_status` — or insured with a health or weather reason);
- `cancel_refused`: the same request where the policy forbids it: nothing changes;
- `change_cabin`: upgrade every flight of a reservation; the cost is a required output;
- `change_date`: move a one-way (not basic economy) reservation to another date on the
  same flight number, found with `search_direct_flights`; the difference is an output;
- `change_refused`: move a basic economy reservation: the policy forbids it;
- `baggage`: add bags; the free allowance depends on membership and cabin, the fee is an
  output;
- `passenger`: correct a passenger's name or date of birth, the reservation named by id
  or by its route and date (a lookup through the user's reservations);
- `book`: a one-way booking from city names (a lookup: `list_airports` then
  `search_direct_flights`), the customer's own date of birth from the profile; the total
  is an output;
- `compensation`: a certificate for a delayed or cancelled flight, to an eligible
  customer; the amount is an output;
- `status`: a flight's status and departure time, the flight named directly or through
  the customer's reservation (outputs only, no change);
- `transfer`: a request no tool can do (remove one passenger; a refund for a flown trip):
  the ground truth transfers to a human agent.

Every request starts with the customer's user id and `get_user_details`, as the policy
requires. Subjects are drawn without replacement per intent (the pool is refilled when
`num_tasks` exceeds it).
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel

from palaestra.core import derive_seed
from palaestra.envs.tooluse._domain import Task
from palaestra.envs.tooluse.airline._db import AirlineDB, User
from palaestra.envs.tooluse.airline._facts import ELIGIBLE, call
from palaestra.envs.tooluse.airline._intents import BUILDERS

INTENTS = tuple(BUILDERS)


def generate_tasks(db: BaseModel, db_seed: int, num_tasks: int) -> list[Task]:
    """`num_tasks` tasks over `db`, deterministic in `db_seed` (db is not changed)."""
    assert isinstance(db, AirlineDB)
    rng = random.Random(derive_seed(db_seed, "tooluse.airline", "env", "tasks"))
    eligible = {intent: ELIGIBLE[intent](db) for intent in INTENTS}
    if not any(eligible.values()):
        raise ValueError(f"the airline of db_seed={db_seed} offers no task")
    pools: dict[str, list[Any]] = {intent: [] for intent in INTENTS}
    tasks = []
    for index in range(num_tasks):
        offset = 0
        while not eligible[INTENTS[(index + offset) % len(INTENTS)]]:
            offset += 1
        intent = INTENTS[(index + offset) % len(INTENTS)]
        if not pools[intent]:
            pools[intent] = rng.sample(eligible[intent], k=len(eligible[intent]))
        subject = pools[intent].pop()
        user = subject if isinstance(subject, User) else db.users[subject.user_id]
        text, calls, outputs = BUILDERS[intent](rng, db, subject)
        tasks.append(
            Task(
                id=f"{intent}-{index:03d}",
                intent=intent,
                instruction=f"Hi, my user id is {user.user_id}. {text}",
                actions=[call("get_user_details", user_id=user.user_id), *calls],
                outputs=outputs,
            )
        )
    return tasks
