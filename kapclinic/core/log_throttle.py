"""A logging filter that lets each kind of warning through once per interval: a shared service that is away
(Redis) would otherwise fill the log with one identical line per request."""

import logging
import sys
import threading
import time
from collections import Counter


class OncePerInterval(logging.Filter):
    """Let each kind of warning through at most once per interval in this process, saying how many were held back.

    For a shared service that is away (Redis), which every request would otherwise
    report: 1,883 identical lines in 15 s hid everything else in the log. Used as a
    filter (keyed by logger and message) or directly through `due`.
    """

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self._lock = threading.Lock()
        self._next_due = {}
        self._held_back = Counter()

    def due(self, key):
        """Return how many were held back since the last one if a line for `key` is due now, else None."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_due.get(key, now):
                self._held_back[key] += 1
                return None
            self._next_due[key] = now + self.seconds
            return self._held_back.pop(key, 0)

    def filter(self, record):
        held_back = self.due((record.name, record.msg))
        if held_back is None:
            return False
        record.fields = {**getattr(record, "fields", {}), "held_back": held_back}
        error = sys.exc_info()[0]  # Flask-Limiter warns inside its `except`: name what failed
        if error is not None and "error" not in record.fields:
            record.fields["error"] = error.__name__
        return True
