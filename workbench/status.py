"""Request statuses: every arrival ends in exactly one of them.

``ok`` (served), ``error`` (the model or a dependency failed), ``timeout`` (the
caller gave up) and ``dropped`` (the queue was full). The codes index
:data:`STATUS_NAMES`; the engine stores them as int8 and the request table as a
categorical with these categories in this order. :data:`PENDING` marks a request
that has not finished yet (never left in a finished run).

Examples
--------
>>> STATUS_NAMES[TIMEOUT]
'timeout'
"""

from __future__ import annotations

__all__ = ["OK", "ERROR", "TIMEOUT", "DROPPED", "PENDING", "STATUS_NAMES"]

OK, ERROR, TIMEOUT, DROPPED = 0, 1, 2, 3
PENDING = -1
STATUS_NAMES: tuple[str, ...] = ("ok", "error", "timeout", "dropped")
