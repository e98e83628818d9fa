"""Buffered publishing: ``delay()`` returns at once and a sender thread writes in batches.

By default ``apply_async`` returns only after the broker confirmed the write, so a
returned task id is never lost; one round trip per call is then the ceiling of a
single-threaded producer. With ``task_publish_buffer = True`` calls only queue the
message here and a sender thread publishes whatever has accumulated in one call,
continuously (no linger), so a one-by-one producer runs at batch speed. The price, and
the reason it is off by default: messages still buffered when the process is killed
(at most one round trip's worth) are lost. ``app.flush()`` waits until everything was
confirmed; it also runs at interpreter exit and before ``AsyncResult.get()``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence

from celeriac.backends.base import Outgoing
from celeriac.errors import BrokerError, CeleriacError

logger = logging.getLogger(__name__)

MAX_BATCH = 5000  #: most messages written in one call
FLUSH_AT_EXIT_S = 10.0  #: how long interpreter exit waits for the buffer to drain


class BufferedProducer:
    """A send buffer drained by one daemon thread per process."""

    def __init__(self, publish: Callable[[Sequence[Outgoing]], None]) -> None:
        self._publish = publish
        self._buffer: list[Outgoing] = []
        self._cond = threading.Condition()
        self._sent = 0  # messages confirmed or given up on
        self._queued = 0  # messages ever queued
        self._closed = False
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="celeriac-producer", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)

        def at_exit() -> None:
            producer = ref()
            if producer is not None:
                producer.close(FLUSH_AT_EXIT_S)

        atexit.register(at_exit)

    @property
    def alive(self) -> bool:
        """False in a forked child (the sender thread stayed in the parent)."""
        return self._pid == os.getpid() and not self._closed

    def submit(self, messages: Sequence[Outgoing]) -> None:
        with self._cond:
            if self._closed:
                raise CeleriacError("producer is closed")
            self._buffer.extend(messages)
            self._queued += len(messages)
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every message queued so far was written; False on timeout."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._sent >= target, timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._pid != os.getpid():
            return
        done = self.flush(timeout)
        if not done:
            with self._cond:
                left = len(self._buffer)
            logger.error("%d buffered message(s) were not published before exit", left)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._buffer) or self._closed)
                if not self._buffer and self._closed:
                    return
                batch, self._buffer = self._buffer[:MAX_BATCH], self._buffer[MAX_BATCH:]
            try:
                self._publish(batch)
            except BrokerError as exc:
                # The retry policy is exhausted: the caller has long returned, so this is
                # where the loss is made visible.
                logger.critical("lost %d buffered message(s) after the publish retries (%s); task ids: %s",
                                len(batch), exc, ", ".join(m.task_id for m in batch[:20]))
            except Exception:
                logger.critical("producer thread failed; %d message(s) lost", len(batch), exc_info=True)
            with self._cond:
                self._sent += len(batch)
                self._cond.notify_all()
