"""A failing shared service (Redis) is reported once per interval, not once per request."""

import logging
import time

from kapclinic.ops.logging import OncePerInterval


class _Kept(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_a_warning_every_request_would_repeat_is_logged_once_per_interval_with_a_count_of_the_rest():
    kept = _Kept()
    kept.addFilter(OncePerInterval(seconds=0.2))
    logger = logging.getLogger("tests.once_per_interval")
    logger.addHandler(kept)
    logger.propagate = False
    try:
        for _ in range(1000):
            logger.warning("storage unreachable")
        logger.warning("something else")  # another kind of warning has its own interval
        assert [(record.getMessage(), record.fields["held_back"]) for record in kept.records] == [
            ("storage unreachable", 0),
            ("something else", 0),
        ]
        time.sleep(0.25)  # the interval has passed
        logger.warning("storage unreachable")
        assert kept.records[-1].fields["held_back"] == 999
    finally:
        logger.removeHandler(kept)
