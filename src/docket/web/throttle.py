"""Sign-in throttling after OWASP's authentication guidance: growing delays, never a lock.

A lock that anyone can trigger by typing a name is a way to keep a team out, and one that
only known names can trigger tells which names exist. So failures are counted per key, and
after a few free ones each further try must wait longer (1 s, 2 s, 4 s, ... up to
MAX_DELAY). The keys are:

- the account name together with the client: a person hammering an account slows only
  themselves; its owner signs in from their own machine as usual;
- the client alone, with more free failures: one machine spraying many names is slowed too.

Unknown names are counted exactly like known ones, so the throttle says nothing about which
names exist. A client is its IP address (an IPv6 client its /64 network, which one device
usually holds whole); behind a reverse proxy, uvicorn takes it from X-Forwarded-For when the
proxy is trusted (its --forwarded-allow-ips, loopback by default).

State lives in memory, in the server process (a per-account column cannot key by client,
and would let anyone lock an account): bounded to MAX_KEYS keys, the least recently failed forgotten
first, and a key is forgotten FORGET_SECONDS after its last failure. A restart forgets all;
each worker process of a multi-process server counts for itself. Admins list and clear the
keys (the /throttles page and /api/throttles).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FREE_PER_ACCOUNT = 5
FREE_PER_CLIENT = 20
MAX_DELAY = 900.0
FORGET_SECONDS = 3600.0
MAX_KEYS = 10_000

# (account name, client); the name None is the key of the client alone.
Key = tuple[str | None, str]


@dataclass
class _Count:
    failures: int
    last: float


def client_key(host: str | None) -> str:
    """The client a request came from, as throttles count it."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _delay(failures: int, free: int) -> float:
    return 0.0 if failures < free else min(2.0 ** (failures - free), MAX_DELAY)


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: OrderedDict[Key, _Count] = OrderedDict()
        self._lock = threading.Lock()

    def _wait_for(self, key: Key, now: float) -> float:
        count = self._counts.get(key)
        if count is None:
            return 0.0
        if now - count.last > FORGET_SECONDS:
            del self._counts[key]
            return 0.0
        free = FREE_PER_CLIENT if key[0] is None else FREE_PER_ACCOUNT
        return max(0.0, count.last + _delay(count.failures, free) - now)

    def wait(self, name: str, client: str) -> float:
        """Seconds before this client may try this name again (0: now)."""
        with self._lock:
            now = self._clock()
            return max(self._wait_for((name, client), now), self._wait_for((None, client), now))

    def failed(self, name: str, client: str) -> None:
        with self._lock:
            now = self._clock()
            for key in ((name, client), (None, client)):
                count = self._counts.pop(key, None) or _Count(0, now)
                if now - count.last > FORGET_SECONDS:
                    count = _Count(0, now)
                self._counts[key] = _Count(count.failures + 1, now)
            while len(self._counts) > MAX_KEYS:
                self._counts.popitem(last=False)

    def succeeded(self, name: str, client: str) -> None:
        """The account's count for this client starts again; the client's own count stays
        (signing in to one's own account must not buy more guesses at others)."""
        with self._lock:
            self._counts.pop((name, client), None)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            now = self._clock()
            return [
                {
                    "name": key[0],
                    "client": key[1],
                    "failures": count.failures,
                    "wait_seconds": round(self._wait_for(key, now), 1),
                }
                for key, count in list(self._counts.items())
                if now - count.last <= FORGET_SECONDS
            ]

    def clear(self, name: str | None = None, client: str | None = None) -> int:
        """Forget the keys of this name and/or client (all keys when neither is given);
        clearing a client clears its own key too. Returns how many were forgotten."""
        with self._lock:
            doomed = [
                key
                for key in self._counts
                if (name is None or key[0] == name) and (client is None or key[1] == client)
            ]
            for key in doomed:
                del self._counts[key]
            return len(doomed)
