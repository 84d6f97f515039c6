"""A deterministic held-out part of each class's training images: chosen by a hash of (class, sample key)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Holdout:
    """A loader filter, `keep(key, original_class)`: the held-out samples (`held`) or every other one.

    About `fraction` of each class is held out; a sample's side depends only on its class and key, so it is the
    same for every seed, epoch, rank and worker, and the two sides never share a sample.
    """

    fraction: float
    held: bool

    def __call__(self, key: str, original_class: int) -> bool:
        return is_held_out(key, original_class, self.fraction) == self.held

    @property
    def expected_fraction(self) -> float:
        """About this fraction of a class's samples passes the filter."""
        return self.fraction if self.held else 1.0 - self.fraction


def is_held_out(key: str, original_class: int, fraction: float) -> bool:
    digest = hashlib.blake2b(f"{original_class}/{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64
