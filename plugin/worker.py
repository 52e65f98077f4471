"""The analysis worker: takes stored inbound messages off the queue and analyses them.

It runs in a thread of the serving process (or alone, in another replica); the queue is
the inbound_messages table, so a message claimed by a worker that died is taken over.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid

from plugin import audit
from plugin.pipeline import Pipeline

log = logging.getLogger("radlite.worker")


class Worker:
    def __init__(self, pipeline: Pipeline, poll_seconds: float) -> None:
        self.pipeline = pipeline
        self.poll_seconds = poll_seconds
        self.worker_id = f"{os.uname().nodename[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="radlite-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Called after an ACK so a new message is picked up without waiting for the poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.pipeline.process_next(self.worker_id)
            except Exception as exc:  # the database is down, say; keep polling, never die
                log.error("worker %s loop error: %s", self.worker_id, audit.failure_text(exc))
                busy = False
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
