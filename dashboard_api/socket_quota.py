"""How many live WebSockets one user may hold open on this API node at once."""

from __future__ import annotations

import logging
from collections import defaultdict

__all__ = ["MAX_SOCKETS_PER_USER", "SocketQuota"]

logger = logging.getLogger(__name__)

# A nurse keeps the ward board and the alerts page open, a coordinator a wall display and a desk PC, a specialist one
# stream per group of units (up to MAX_WARDS_PER_STREAM wards each) and a few patient pages: well under 10. 20 leaves
# room for stale tabs and a reconnect that overlaps its old socket. Each socket costs a snapshot read, a broker
# subscription and a queue of up to 2000 deltas, so 300 of them from one user (a script, or a page gone wrong)
# starve everyone else. Per node only: nodes share no state, so a user spread over N nodes may hold N times this.
MAX_SOCKETS_PER_USER = 20


class SocketQuota:
    """Open sockets per user id in this process. `admit` before streaming, `release` when the socket ends."""

    def __init__(self, limit: int = MAX_SOCKETS_PER_USER) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit
        self._open: defaultdict[str, set[object]] = defaultdict(set)
        self._owner: dict[object, str] = {}

    def admit(self, user_id: str, connection: object) -> bool:
        """Count `connection` against `user_id`, or False when the user already holds `limit` sockets here."""
        held = self._open[user_id]
        if connection in held:
            return True
        if len(held) >= self.limit:
            logger.warning("Refused a WebSocket of user %s: %d already open on this node", user_id, len(held))
            return False
        held.add(connection)
        self._owner[connection] = user_id
        return True

    def release(self, connection: object) -> None:
        """Stop counting `connection` (a no-op for one never admitted)."""
        user_id = self._owner.pop(connection, None)
        if user_id is None:
            return
        held = self._open[user_id]
        held.discard(connection)
        if not held:
            del self._open[user_id]  # a user who left costs no memory

    def open_sockets(self, user_id: str) -> int:
        return len(self._open.get(user_id, ()))
