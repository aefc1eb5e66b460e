"""Deterministic randomness: every random draw comes from a generator derived from
`(run seed, episode, agent, purpose)`, so that the same config and seed give the same
episode, whatever else runs concurrently and in whatever order episodes are scheduled.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(run_seed: int, episode: str, agent: str, purpose: str) -> int:
    """A 63-bit seed that depends only on its four inputs (BLAKE2b of their text)."""
    text = f"{run_seed}\x1f{episode}\x1f{agent}\x1f{purpose}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


def derive_rng(run_seed: int, episode: str, agent: str, purpose: str) -> random.Random:
    """A `random.Random` seeded by `derive_seed` for one (episode, agent, purpose)."""
    return random.Random(derive_seed(run_seed, episode, agent, purpose))
