"""Stopping running tasks: soft and hard time limits and ``revoke(terminate=True)``.

One watchdog thread per worker process keeps the deadlines of the running tasks that have
limits and, when one passes, raises an exception *inside* the task's thread:

* the main thread (solo pool, prefork children) gets a real signal (``SIGUSR2`` sent with
  ``pthread_kill``) whose handler raises, so even a blocking ``time.sleep`` or socket
  read is interrupted;
* any other thread (threads pool) gets an asynchronous exception
  (``PyThreadState_SetAsyncExc``), delivered at its next Python bytecode: a thread blocked
  in one long C call sees it only when that call returns (best effort, documented).

The hard limit of a prefork child does not rely on the task at all: the watchdog calls
``on_hard`` (which records FAILURE and exits the child; the supervisor replaces it).

Tasks without limits cost nothing: the thread starts on the first ``watch``. This module
does no I/O and knows nothing about transports or pools.
"""

from __future__ import annotations

import ctypes
import heapq
import logging
import signal
import threading
import time
from collections.abc import Callable

from celeriac.errors import HardTimeLimit, SoftTimeLimitExceeded, Terminated

logger = logging.getLogger(__name__)

INTERRUPT_SIGNAL = signal.SIGUSR2  #: the signal that carries an interruption to the main thread


class Watched:
    """A running task with limits (or that may be terminated)."""

    __slots__ = ("fired", "glet", "hard_at", "ident", "key", "payload", "soft_at", "token")

    def __init__(self, key: str, ident: int, soft_at: float | None = None, hard_at: float | None = None) -> None:
        self.key = key
        """The task id."""
        self.ident = ident
        """The thread running it."""
        self.soft_at = soft_at
        self.hard_at = hard_at
        self.fired: list[type[BaseException]] = []
        """Exceptions raised into it so far."""
        self.glet: object = _current_greenlet() if _current_greenlet is not None else None
        """The greenlet running it (the gevent pool), killed with the exception instead."""
        self.payload: object = None
        """Whatever the caller attached (the executor's job)."""
        self.token = [True]
        """Claimed (``pop()``, atomic) by whichever comes first: the task ending, or a
        terminate that is about to raise into it. Keeps the cheap path lock-free."""


class Interrupter:
    """Raise exceptions inside running tasks, at deadlines or on demand."""

    def __init__(self, *, on_hard: Callable[[Watched], bool] | None = None) -> None:
        self.on_hard = on_hard
        """Called (in the watchdog thread) when a hard limit passes; returns True when it
        dealt with it (a prefork child exits), False to raise :class:`HardTimeLimit`."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._running: dict[str, Watched] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._main_ident = threading.main_thread().ident
        self._main_handler = False
        self._pending_main: type[BaseException] | None = None

    # -- setup -----------------------------------------------------------------------------

    def install_main_handler(self) -> None:
        """Route interruptions of the main thread through a signal (call from the main thread)."""
        if threading.get_ident() != self._main_ident:
            return
        signal.signal(INTERRUPT_SIGNAL, self._on_signal)
        self._main_handler = True

    def _on_signal(self, _signum: int, _frame: object) -> None:
        exc, self._pending_main = self._pending_main, None
        if exc is not None:
            raise exc()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    # -- tracking --------------------------------------------------------------------------

    def watch(self, key: str, *, soft_s: float | None, hard_s: float | None) -> Watched:
        """Track a task starting now in this thread (limits in seconds, None: none)."""
        if not soft_s and not hard_s:  # only terminate can reach it: no lock, no thread
            w = Watched(key, threading.get_ident())
            self._running[key] = w
            return w
        now = time.monotonic()
        w = Watched(key, threading.get_ident(), now + soft_s if soft_s else None,
                    now + hard_s if hard_s else None)
        with self._cond:
            self._running[key] = w
            for kind, at in (("soft", w.soft_at), ("hard", w.hard_at)):
                if at is not None:
                    heapq.heappush(self._heap, (at, kind, key))
            if self._heap:
                self._ensure_thread()
                self._cond.notify()
        return w

    def unwatch(self, w: Watched) -> None:
        """The task is over: nothing more will be raised into it."""
        try:
            w.token.pop()
            claimed = False
        except IndexError:
            claimed = True  # a terminate got there first and raises (or raised) into us
        if w.soft_at is None and w.hard_at is None and not claimed:
            if self._running.get(w.key) is w:
                self._running.pop(w.key, None)
            return
        with self._cond:
            if self._running.get(w.key) is w:
                del self._running[w.key]
            if w.fired:
                self._cancel_pending(w)

    def terminate(self, key: str) -> bool:
        """Stop the running task ``key`` now (``revoke(terminate=True)``); False if not here."""
        with self._cond:
            w = self._running.get(key)
            if w is None:
                return False
            try:
                w.token.pop()
            except IndexError:
                return False  # it is ending right now
            self._raise(w, Terminated)
            return True

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    # -- the watchdog ------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch_loop, name="celeriac-limits", daemon=True)
            self._thread.start()

    def _watch_loop(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                at, kind, key = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                w = self._running.get(key)
                if w is None or (w.soft_at != at and w.hard_at != at) or not w.token:
                    continue  # finished, terminated, or a later task with the same id
                if kind == "soft":
                    logger.warning("task %s: soft time limit exceeded", key)
                    self._raise(w, SoftTimeLimitExceeded)
                    continue
                logger.error("task %s: hard time limit exceeded", key)
                handled = False
                if self.on_hard is not None:
                    hook = self.on_hard
                    self._cond.release()
                    try:
                        handled = hook(w)
                    finally:
                        self._cond.acquire()
                if not handled and self._running.get(key) is w:
                    self._raise(w, HardTimeLimit)

    # -- raising (lock held) -------------------------------------------------------------------

    def _raise(self, w: Watched, exc: type[BaseException]) -> None:
        w.fired.append(exc)
        if w.glet is not None and _kill_greenlet is not None:
            _kill_greenlet(w.glet, exc)
            return
        if w.ident == self._main_ident and self._main_handler:
            self._pending_main = exc
            signal.pthread_kill(w.ident, INTERRUPT_SIGNAL)
        else:
            _async_raise(w.ident, exc)

    def _cancel_pending(self, w: Watched) -> None:
        if w.glet is not None:
            return  # a greenlet's kill cannot be taken back; the token makes it rare
        if w.ident == self._main_ident and self._main_handler:
            self._pending_main = None
        else:
            _async_raise(w.ident, None)


_current_greenlet: Callable[[], object] | None = None
_kill_greenlet: Callable[[object, type[BaseException]], None] | None = None


def use_greenlets() -> None:
    """The gevent pool: tasks run in greenlets, so limits kill the greenlet with the
    exception (raised at its next switch) instead of raising into a thread."""
    global _current_greenlet, _kill_greenlet
    import gevent

    def kill(glet: object, exc: type[BaseException]) -> None:
        kill_one = getattr(glet, "kill", None)
        if kill_one is not None:  # a gevent.Greenlet (a patched thread): do not wait for it
            kill_one(exc, block=False)
        else:
            gevent.kill(glet, exc)

    _current_greenlet, _kill_greenlet = gevent.getcurrent, kill


def use_eventlet() -> None:
    """The eventlet pool: as ``use_greenlets``, with eventlet's kill (a throw scheduled on
    its hub, raised in the green thread at its next switch)."""
    global _current_greenlet, _kill_greenlet
    from eventlet import greenthread

    def kill(glet: object, exc: type[BaseException]) -> None:
        greenthread.kill(glet, exc)

    _current_greenlet, _kill_greenlet = greenthread.getcurrent, kill


def _async_raise(ident: int, exc: type[BaseException] | None) -> None:
    """Schedule ``exc`` in thread ``ident`` (None clears a scheduled one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident),
                                               ctypes.py_object(exc) if exc is not None else None)

