"""Named, stable random streams and a stable hash (never builtin ``hash()``).

One seed per run; each part of the simulation draws from its own stream, derived
from the seed and the stream's *name*. Adding a stream never shifts another, and
the same (seed, name) gives the same numbers in any process, so comparisons are
paired (common random numbers).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["stream", "stable_int", "bucket", "buckets"]


def stable_int(*parts: object, bits: int = 64) -> int:
    """A process-independent integer hash of ``parts`` (blake2b).

    Examples
    --------
    >>> stable_int("canary", 42) == stable_int("canary", 42)
    True
    """
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    digest = hashlib.blake2b(text, digest_size=bits // 8).digest()
    return int.from_bytes(digest, "little")


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream ``name`` of run ``seed`` (PCG64 on a spawned SeedSequence)."""
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(stable_int(name, bits=32),))
    return np.random.Generator(np.random.PCG64(seq))


def bucket(salt: str, user_id: int, buckets: int = 10_000) -> int:
    """Stable bucket in ``[0, buckets)`` for a user: basis points by default.

    A user whose bucket is below ``weight_percent * 100`` is in the cohort, so a
    ramp from 5% to 10% keeps every user of the 5% cohort (monotone ramps).

    Examples
    --------
    >>> 0 <= bucket("exp-1", 7) < 10_000
    True
    """
    return stable_int(salt, user_id) % buckets


def buckets(salt: str, user_ids, buckets: int = 10_000) -> np.ndarray:
    """:func:`bucket` of each of ``user_ids`` (int64 array; the same values, hashed about twice as fast).

    Examples
    --------
    >>> buckets("exp-1", [7, 8]).tolist() == [bucket("exp-1", 7), bucket("exp-1", 8)]
    True
    """
    prefix = f"{salt}\x1f".encode()
    blake2b, from_bytes = hashlib.blake2b, int.from_bytes
    ids = np.asarray(user_ids, dtype=np.int64).tolist()
    return np.array(
        [from_bytes(blake2b(b"%b%d" % (prefix, uid), digest_size=8).digest(), "little") % buckets for uid in ids],
        dtype=np.int64,
    )
