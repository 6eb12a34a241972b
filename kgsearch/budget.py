"""Per-client query-time budgets, in the style of the Wikidata Query Service.

WDQS gives each client 60 seconds of query processing time per 60 seconds. Here each client has
a token bucket of ``capacity`` seconds that refills at ``capacity`` seconds per ``window``
seconds. A budgeted request is charged the wall time it took once it is done (a query stopped
at the time limit included), so the balance can go below zero: a client that runs slow
queries side by side goes into debt, and while its balance is at or below zero its requests
are refused with 429 and ``Retry-After``, the whole seconds until the balance is positive
again. With the defaults (capacity equal to the window) a client that sends one request at a
time never runs out; only parallel work can. A cap on a client's requests in progress stops
it from taking every query worker before the first charge lands.

A client is its IP address; an IPv6 address counts as its /64 network, since one host usually
holds a whole /64 and could otherwise take a fresh address for each request. Loopback peers are
not budgeted unless forwarded addresses are trusted: on loopback is either the operator's own
tooling or a reverse proxy on the same host, which would pool every real client into one bucket
(behind such a proxy, trust its ``X-Forwarded-For`` to budget the clients themselves).

>>> now = [0.0]
>>> budgets = ClientBudgets(capacity=60, window=60, clock=lambda: now[0])
>>> budgets.charge("203.0.113.7", 90)  # e.g. three 30 s timeouts run at once
>>> budgets.balance("203.0.113.7"), budgets.retry_after("203.0.113.7")
(-30.0, 31)
>>> now[0] = 31.0
>>> budgets.balance("203.0.113.7") > 0, budgets.retry_after("203.0.113.7")
(True, None)
>>> now[0] = 1000.0
>>> budgets.balance("203.0.113.7"), len(budgets)  # full again: forgotten
(60.0, 0)
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from kg.errors import KgError

#: Clients remembered at most; past it, those with a full bucket are forgotten first, then the least recently seen.
MAX_CLIENTS = 10_000


class QueryBudgetExceededError(KgError):
    """A client has used up its query-time budget, or has too many requests in progress.

    Attributes:
        retry_after: Whole seconds until the client may send again.
    """

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class _Bucket:
    __slots__ = ("balance", "at", "running")

    def __init__(self, balance: float, at: float):
        self.balance = balance
        self.at = at
        self.running = 0


class ClientBudgets:
    """Query-time token buckets by client key; thread-safe.

    Args:
        capacity: Seconds of processing time a client may have in hand (the bucket's size).
        window: Seconds in which an empty bucket refills completely.
        concurrency: Most budgeted requests a client may have in progress; ``None`` for no cap.
        max_clients: Most clients remembered (memory stays bounded whatever the traffic).
        clock: Seconds from a monotonic clock; injected by tests.
    """

    def __init__(
        self,
        capacity: float,
        window: float,
        *,
        concurrency: int | None = None,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ):
        if capacity <= 0 or window <= 0:
            raise ValueError("the budget and its window must be greater than 0 seconds")
        self.capacity = float(capacity)
        self.window = float(window)
        self.rate = self.capacity / self.window
        self.concurrency = concurrency
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _get(self, key: str, now: float) -> _Bucket | None:
        """The client's bucket refilled up to ``now``; ``None`` when it is full (nothing to remember)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.balance = min(self.capacity, bucket.balance + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.balance >= self.capacity and not bucket.running:
            del self._buckets[key]
            return None
        self._buckets.move_to_end(key)
        return bucket

    def _add(self, key: str, now: float) -> _Bucket:
        if len(self._buckets) >= self.max_clients:
            self._shrink(now)
        bucket = self._buckets[key] = _Bucket(self.capacity, now)
        return bucket

    def _shrink(self, now: float) -> None:
        # Full buckets carry no information; then the least recently seen go (forgiving their
        # debt, which only a client with more addresses than max_clients can arrange). Down to
        # 90% so that the scan runs once per max_clients/10 new clients, not for each.
        for key in [k for k, b in self._buckets.items() if not b.running]:
            bucket = self._buckets[key]
            if bucket.balance + (now - bucket.at) * self.rate >= self.capacity:
                del self._buckets[key]
        target = int(self.max_clients * 0.9)
        for key in [k for k, b in self._buckets.items() if not b.running][: max(0, len(self._buckets) - target)]:
            del self._buckets[key]

    def balance(self, key: str) -> float:
        """Seconds the client has in hand now (negative when in debt)."""
        with self._lock:
            bucket = self._get(key, self.clock())
            return self.capacity if bucket is None else bucket.balance

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until the client's balance is positive again; ``None`` when it is now."""
        with self._lock:
            bucket = self._get(key, self.clock())
            return None if bucket is None else self._wait(bucket)

    def _wait(self, bucket: _Bucket) -> int | None:
        if bucket.balance > 0:
            return None
        return math.floor(-bucket.balance / self.rate) + 1

    def charge(self, key: str, seconds: float) -> None:
        """Take ``seconds`` of processing time from the client's balance."""
        with self._lock:
            now = self.clock()
            bucket = self._get(key, now) or self._add(key, now)
            bucket.balance -= max(0.0, seconds)

    def admit(self, key: str) -> float:
        """Let a request of the client's start, and return its start time for :meth:`done`.

        Raises:
            QueryBudgetExceededError: The client's balance is at or below zero, or it has
                ``concurrency`` requests in progress.
        """
        with self._lock:
            now = self.clock()
            bucket = self._get(key, now)
            if bucket is not None:
                wait = self._wait(bucket)
                if wait is not None:
                    raise QueryBudgetExceededError(
                        f"this client has used its query time ({self.capacity:g} s per {self.window:g} s) and is "
                        f"{-bucket.balance:.1f} s over; wait {wait} s (Retry-After), then send fewer or cheaper "
                        "queries at a time (add LIMIT, narrow the patterns)",
                        wait,
                    )
                if self.concurrency is not None and bucket.running >= self.concurrency:
                    raise QueryBudgetExceededError(
                        f"this client has {bucket.running} requests in progress, the most allowed; "
                        "wait 1 s for one to finish, and send them one after another",
                        1,
                    )
            else:
                bucket = self._add(key, now)
            bucket.running += 1
            return now

    def done(self, key: str, started: float) -> None:
        """A request admitted at ``started`` has finished: charge the time it took."""
        with self._lock:
            now = self.clock()
            bucket = self._get(key, now) or self._add(key, now)
            bucket.running = max(0, bucket.running - 1)
            bucket.balance -= max(0.0, now - started)
            self._get(key, now)  # forget it if that left it full


def client_key(scope: dict[str, Any], *, trust_forwarded: bool = False) -> str:
    """The budget key of an ASGI request: the peer's IP address, an IPv6 one as its /64.

    ``X-Forwarded-For`` is read only with ``trust_forwarded``, and then its last address, the
    one the (trusted) reverse proxy in front added: any client can send the header, and a
    server that believed it would let each request name a fresh client with a full budget.

    >>> client_key({"client": ("2001:db8:1:2:3:4:5:6", 5000), "headers": []})
    '2001:db8:1:2::/64'
    >>> client_key({"client": ("10.0.0.2", 1), "headers": [(b"x-forwarded-for", b"1.2.3.4, 5.6.7.8")]},
    ...            trust_forwarded=True)
    '5.6.7.8'
    """
    host = None
    if trust_forwarded:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                host = value.decode("latin-1").split(",")[-1].strip() or host
    if not host:
        client = scope.get("client")
        host = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if not address.is_loopback:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _is_loopback(key: str) -> bool:
    try:
        return ipaddress.ip_network(key, strict=False).is_loopback
    except ValueError:
        return False


class BudgetMiddleware:
    """ASGI middleware: a budgeted request from a client out of budget gets the ``refuse``
    response (429) before anything is read; the others are charged the wall time they took.

    Args:
        app: The wrapped ASGI app.
        budgets: The clients' buckets.
        charged: Whether a request path is budgeted.
        exempt: Whether a request (its ASGI scope) is free of the budget.
        refuse: The response (an ASGI app) for a :class:`QueryBudgetExceededError`.
        trust_forwarded: Key clients by ``X-Forwarded-For`` (see :func:`client_key`).
    """

    def __init__(
        self,
        app,
        *,
        budgets: ClientBudgets,
        charged: Callable[[str], bool],
        exempt: Callable[[dict[str, Any]], bool],
        refuse: Callable[[QueryBudgetExceededError], Any],
        trust_forwarded: bool = False,
    ):
        self.app = app
        self.budgets = budgets
        self.charged = charged
        self.exempt = exempt
        self.refuse = refuse
        self.trust_forwarded = trust_forwarded

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.charged(scope.get("path", "")) or self.exempt(scope):
            return await self.app(scope, receive, send)
        key = client_key(scope, trust_forwarded=self.trust_forwarded)
        if not self.trust_forwarded and _is_loopback(key):
            return await self.app(scope, receive, send)
        try:
            started = self.budgets.admit(key)
        except QueryBudgetExceededError as e:
            return await self.refuse(e)(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        finally:
            self.budgets.done(key, started)
