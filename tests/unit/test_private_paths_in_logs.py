"""gunicorn's own log lines name a failed request's path; what reaches the log keeps no link token."""

import logging

import pytest

from kapclinic.ops.logging import WithoutPrivatePaths, without_private_paths

# A manage link's token as the app issues it (itsdangerous: payload.timestamp.signature).
TOKEN = "IjY5S1locWhDSXFrLWJ4ZVhKbjhLellzRjRScGkxblZPckxQZks1QVg3bDQi.axUGxg.MdqaXcT-ALJgvgKBFyPg_NkHzKk"


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (f"Error handling request GET /manage/{TOKEN}/invite.ics", "Error handling request GET /manage/"),
        (f"Error handling request GET /intake/{TOKEN}/step/medical", "/step/medical"),
        ("Error handling request GET /staff/intakes?q=Ana+Patient&status=new", "/staff/intakes?"),
    ],
)
def test_a_request_line_keeps_its_route_but_not_its_token_or_query(line, kept):
    redacted = without_private_paths(line)
    assert kept in redacted
    assert TOKEN not in redacted and "Ana" not in redacted


@pytest.mark.parametrize(
    "line",
    [
        "Booting worker with pid: 12345",
        "Worker exiting (pid: 4242)",
        "Error handling request POST /api/v1/bookings",
        "SMTPRecipientsRefused while sending",
    ],
)
def test_ordinary_lines_read_as_they_were(line):
    assert without_private_paths(line) == line


def test_the_filter_rewrites_the_record_gunicorn_logs():
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "Error handling request %s", (f"/manage/{TOKEN}",), None
    )
    assert WithoutPrivatePaths().filter(record)
    assert TOKEN not in record.getMessage() and "/manage/<redacted>" in record.getMessage()
