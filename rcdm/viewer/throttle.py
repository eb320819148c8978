"""Login throttling and the password-hash gate of the viewer.

``LoginThrottle`` slows password guessing without ever locking the real user out:

* per (user, address): after ``free_attempts`` failures each further attempt must wait a delay that doubles with
  every failure (``base_delay`` … ``max_delay``), counted from that pair's last attempt;
* per address (any user): the same, with a larger allowance (one address trying many user names);
* per user (any address): after ``user_soft_limit`` failures in all, an address that has not yet waited for this
  user must wait ``user_delay`` (doubling, at most ``max_user_delay``) before its password is checked. A fresh
  address with the right password therefore gets in after at most ``max_user_delay`` seconds, while a
  distributed guesser gets one guess per address per delay.

``begin`` decides and records atomically (one lock): an allowed attempt is counted as a failure *before* the
password is checked and the pair is marked in flight, so parallel requests cannot all pass the same check
(a second request of a pair still being checked is refused). ``end`` settles it: success clears the pair's and the
user's failures. Entries are forgotten ``forget_seconds`` after their last failure and the table holds at most
``max_entries`` keys (oldest dropped), so a flood of names or addresses cannot grow memory without bound.

``HashGate`` bounds how many argon2 hashes run at once (each takes 64 MiB and a core for ~50 ms) and how many
requests may wait for one (in the event loop, holding no worker thread); beyond that, logins are answered 503 at
once instead of piling up.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from rcdm.errors import GateFull


@dataclass(frozen=True)
class ThrottleSettings:
    """Delays of ``LoginThrottle`` (seconds); see the module docstring."""

    free_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 300.0
    address_free_attempts: int = 20
    user_soft_limit: int = 10
    user_delay: float = 2.0
    max_user_delay: float = 60.0
    forget_seconds: float = 24 * 3600.0
    max_entries: int = 100_000


def _backoff(failures: int, free: int, base: float, cap: float) -> float:
    """0 for the first ``free`` failures, then ``base`` doubling per failure, at most ``cap``."""
    if failures < free:
        return 0.0
    return min(cap, base * 2.0 ** min(failures - free, 60))


@dataclass
class _Entry:
    failures: int = 0
    last_attempt: float = float("-inf")
    last_failure: float = float("-inf")
    pending: int = 0
    """Attempts allowed and not yet settled (counted in ``failures`` meanwhile)."""


@dataclass(frozen=True)
class Decision:
    """``allowed``: check the password now; else answer 429 with ``retry_after`` seconds."""

    allowed: bool
    retry_after: float = 0.0


@dataclass
class LoginThrottle:
    """Growing delays per (user, address), per address and per user; atomic under concurrency."""

    settings: ThrottleSettings = field(default_factory=ThrottleSettings)
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[tuple, _Entry] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _lookup(self, key: tuple, now: float) -> _Entry | None:
        """The live entry of ``key`` (None when absent or forgotten); nothing is stored."""
        entry = self._entries.get(key)
        forget = self.settings.forget_seconds
        if entry is not None and not entry.pending and now - entry.last_failure > forget \
                and now - entry.last_attempt > forget:
            del self._entries[key]
            return None
        return entry

    def _store(self, key: tuple, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.settings.max_entries:
            self._entries.popitem(last=False)

    def begin(self, user: str, address: str) -> Decision:
        """Whether ``user`` may try a password from ``address`` now; if so the attempt is recorded as a failure
        until ``end(..., ok=True)`` says otherwise. A refusal stores nothing (so refused requests with made-up
        names cannot push real entries out of the bounded table), except the time a fresh address started
        waiting for a user under pressure."""
        user = user.lower()
        now = self.clock()
        keys = (("pair", user, address), ("address", address), ("user", user))
        with self._lock:
            found = [self._lookup(key, now) for key in keys]
            pair, addr, per_user = (entry if entry is not None else _Entry() for entry in found)
            if pair.pending:
                return Decision(False, 1.0)
            ready = self._ready(pair, addr, per_user, now, settled=False)
            if now < ready:
                if found[0] is None and pair.last_attempt != float("-inf"):
                    self._store(keys[0], pair)  # the fresh address's wait for this user has begun
                # refused: say how long the settled failures alone ask for (attempts still being checked may
                # turn out right), at least a second
                return Decision(False, max(1.0, self._ready(pair, addr, per_user, now, settled=True) - now))
            for key, entry in zip(keys, (pair, addr, per_user)):
                entry.failures += 1
                entry.pending += 1
                entry.last_attempt = entry.last_failure = now
                self._store(key, entry)
            return Decision(True)

    def _ready(self, pair: _Entry, addr: _Entry, per_user: _Entry, now: float, settled: bool) -> float:
        """When the next attempt of ``pair`` may be checked: counting attempts in flight as failures, or not."""
        s = self.settings
        count = (lambda e: e.failures - e.pending) if settled else (lambda e: e.failures)  # noqa: E731
        ready = max(pair.last_attempt + _backoff(count(pair), s.free_attempts, s.base_delay, s.max_delay),
                    addr.last_attempt + _backoff(count(addr), s.address_free_attempts, s.base_delay, s.max_delay))
        user_wait = _backoff(count(per_user), s.user_soft_limit, s.user_delay, s.max_user_delay)
        if user_wait > 0:
            if pair.last_attempt == float("-inf"):
                pair.last_attempt = now  # a fresh address starts waiting for this user now
            ready = max(ready, pair.last_attempt + user_wait)
        return ready

    def end(self, user: str, address: str, ok: bool | None) -> None:
        """Settle an attempt ``begin`` allowed: a right password (True) clears the pair's and the user's failures,
        a wrong one (False) stays counted, an unchecked one (None: the server was busy) is not counted."""
        user = user.lower()
        with self._lock:
            for key in (("pair", user, address), ("address", address), ("user", user)):
                entry = self._entries.get(key)
                if entry is not None and entry.pending:
                    entry.pending -= 1
            if ok is None:
                for key in (("pair", user, address), ("address", address), ("user", user)):
                    entry = self._entries.get(key)
                    if entry is not None and entry.failures:
                        entry.failures -= 1
            if not ok:
                return
            for key in (("pair", user, address), ("user", user)):
                entry = self._entries.get(key)
                if entry is not None:
                    entry.failures = 0
            addr = self._entries.get(("address", address))
            if addr is not None and addr.failures:
                addr.failures -= 1  # the right password was not a failure of this address

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class HashGate:
    """At most ``max_parallel`` password hashes at once and ``max_waiting`` requests waiting for one."""

    max_parallel: int = 2
    max_waiting: int = 32
    _slots: threading.BoundedSemaphore = field(init=False)
    _queued: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.max_parallel < 1 or self.max_waiting < 0:
            raise ValueError("HashGate needs max_parallel >= 1 and max_waiting >= 0")
        self._slots = threading.BoundedSemaphore(self.max_parallel)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one hash slot; while all are busy, wait in the event loop (no worker thread is held), and raise
        GateFull at once when ``max_waiting`` requests wait already."""
        import anyio

        with self._lock:
            if self._queued >= self.max_parallel + self.max_waiting:
                raise GateFull
            self._queued += 1
        try:
            while not self._slots.acquire(blocking=False):
                await anyio.sleep(0.005)
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._queued -= 1

    @property
    def queued(self) -> int:
        """Requests holding or waiting for a slot now."""
        return self._queued


__all__ = ["Decision", "GateFull", "HashGate", "LoginThrottle", "ThrottleSettings"]
