"""Leases: each platform listener runs in exactly one replica at a time.

A lease is a row in the database (name, holder, epoch, expires at). The replica that holds it
renews it every few seconds; when the holder dies, the lease runs out and another replica
takes it over, with the epoch one higher. A renewal only succeeds while the epoch is the one
this replica took, so a replica that was paused while another took over learns it at its next
renewal and stops listening at once (``epoch`` is the fencing token).

The keeper is one small loop per listener, on an injected clock: tests drive :meth:`tick`
with a fake clock, ``conduct serve`` runs :meth:`run` in a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from conduct_desk.domain.errors import DeskError
from conduct_desk.service.ports import Clock

logger = logging.getLogger(__name__)

TTL = timedelta(seconds=10)  # a dead holder's lease is taken over at most this late…
RENEW_EVERY = timedelta(seconds=2)  # …plus one of these (the other replicas' next try)


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    epoch: int  # one higher at each takeover: the fencing token
    expires_at: datetime


class Leases(Protocol):
    """Where leases are kept (the database, shared by every replica)."""

    def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> Lease | None:
        """Take the lease when nobody holds it or its holder's time has run out (the epoch
        goes up), or renew it when ``holder`` holds it already; None when another holds it."""
        ...

    def renew(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
        """Extend the lease while it is still ``lease.holder``'s at ``lease.epoch``; None when
        another replica has taken it over since (then the holder must stop at once)."""
        ...

    def release(self, lease: Lease, now: datetime) -> None:
        """Let the lease go at once (when it is still this one), so another replica need not
        wait for it to run out."""
        ...

    def current(self, name: str) -> Lease | None:
        """The lease as stored (its holder may have died), or None when never taken."""
        ...


@dataclass(frozen=True)
class Listener:
    """What runs under a lease: a platform's listener, started and stopped by the keeper."""

    lease: str  # the lease's name, e.g. "listener:matrix"
    start: Callable[[], None]
    stop: Callable[[], None]


class LeaseKeeper:
    """Holds one listener's lease: takes it when free, renews it, and runs the listener only
    while the lease is held. ``gone(holder)`` says a holder is known dead (a process on this
    machine that no longer exists), so its lease need not be waited out."""

    def __init__(self, leases: Leases, clock: Clock, holder: str, listener: Listener, *,
                 ttl: timedelta = TTL, renew_every: timedelta = RENEW_EVERY,
                 gone: Callable[[str], bool] | None = None) -> None:
        if renew_every * 2 > ttl:
            raise ValueError("renew at least twice within the lease's time to live")
        self.leases, self.clock, self.holder, self.listener = leases, clock, holder, listener
        self.ttl, self.renew_every, self.gone = ttl, renew_every, gone
        self._held: Lease | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> Lease | None:
        """The lease while this replica holds it (and so runs the listener), else None."""
        with self._lock:
            lease = self._held
        if lease is not None and self.clock.now() >= lease.expires_at:
            return None  # not renewed in time: no longer ours to trust
        return lease

    def tick(self) -> Lease | None:
        """One round: renew the lease held, or try to take it; start or stop the listener
        to match. Returns the lease held afterwards."""
        with self._lock:
            held = self._held
        if held is not None:
            self._renew(held)
        else:
            self._take()
        with self._lock:
            return self._held

    def _renew(self, held: Lease) -> None:
        now = self.clock.now()
        try:
            renewed = self.leases.renew(held, now, self.ttl)
        except Exception:
            logger.exception("renewing the lease %s failed", held.name)
            renewed = None
        if renewed is None:
            logger.warning("lost the lease %s (epoch %s): stopping that listener here",
                           held.name, held.epoch)
            self._lose()
            return
        with self._lock:
            self._held = renewed

    def _take(self) -> None:
        name = self.listener.lease
        now = self.clock.now()
        lease = self.leases.acquire(name, self.holder, now, self.ttl)
        if lease is None and self.gone is not None:
            current = self.leases.current(name)
            if current is not None and self.gone(current.holder):
                logger.info("the holder of %s has ended; taking it over at once", name)
                self.leases.release(current, now)
                lease = self.leases.acquire(name, self.holder, now, self.ttl)
        if lease is None:
            return
        logger.info("took the lease %s (epoch %s): starting that listener here", name,
                    lease.epoch)
        with self._lock:
            self._held = lease
        try:
            self.listener.start()
        except BaseException:
            self.release()  # another replica may do better (a refused token says so there too)
            raise
        self._renew(lease)  # a slow start must not let the lease run out unnoticed

    def _lose(self) -> None:
        with self._lock:
            self._held = None
        try:
            self.listener.stop()
        except Exception:
            logger.exception("stopping the listener of %s failed", self.listener.lease)

    def release(self) -> None:
        """Stop the listener and let the lease go, so another replica takes it at once."""
        with self._lock:
            held, self._held = self._held, None
        if held is None:
            return
        try:
            self.listener.stop()
        finally:
            try:
                self.leases.release(held, self.clock.now())
            except Exception:  # it runs out by itself
                logger.warning("could not release the lease %s; it runs out by itself",
                               held.name)

    def run(self, stopping: threading.Event) -> None:
        """Tick every ``renew_every`` until ``stopping`` is set, then release the lease."""
        try:
            while not stopping.is_set():
                try:
                    self.tick()
                except Exception as exc:  # e.g. the database is away: try again next round
                    logger.warning("keeping the lease %s failed: %s", self.listener.lease,
                                   type(exc).__name__)
                stopping.wait(self.renew_every.total_seconds())
        finally:
            self.release()


class ListenersElsewhere(DeskError):
    """A second process on a single-process database (SQLite) would run the listeners twice."""

    exit_code = 1


class Leaseholder:
    """Every listener lease of one replica: one keeper each, each in its own thread (a slow
    start of one listener never delays renewing another's lease)."""

    def __init__(self, keepers: list[LeaseKeeper], *, single_process: bool = False) -> None:
        self.keepers, self.single_process = keepers, single_process
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def held(self) -> list[Lease]:
        """The leases this replica holds now (``/readyz`` lists them)."""
        return [lease for k in self.keepers if (lease := k.held) is not None]

    def first_round(self) -> None:
        """Take what is free and start those listeners now, so that a listener that cannot
        start (a refused token) says so before the desk serves. On a single-process database,
        refuse when another process runs any listener already."""
        for keeper in self.keepers:
            keeper.tick()
        if not self.single_process:
            return
        elsewhere = [k for k in self.keepers if k.held is None]
        if elsewhere:
            self.release()
            holders = sorted({str(lease.holder) for k in elsewhere
                              if (lease := k.leases.current(k.listener.lease)) is not None})
            names = ", ".join(k.listener.lease.removeprefix("listener:") for k in elsewhere)
            raise ListenersElsewhere(
                f"the {names} listener already runs in another `conduct serve` on this SQLite "
                f"database ({', '.join(holders) or 'another process'}); stop that one first, "
                "or use PostgreSQL (CONDUCT_DATABASE_URL) to run several replicas")

    def start(self) -> None:
        """Keep the leases in the background: renew, take over, stop on loss."""
        for keeper in self.keepers:
            thread = threading.Thread(target=keeper.run, args=(self._stopping,), daemon=True,
                                      name=f"conduct-lease-{keeper.listener.lease}")
            thread.start()
            self._threads.append(thread)

    def release(self) -> None:
        """Stop every listener here and let its lease go (another replica takes it at once)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        for keeper in self.keepers:
            keeper.release()
