"""The production-shaped stack (tests/deployed/stack.py) for the journeys over HTTPS, and the browser of tests/e2e.

Module-scoped: one stack for the module's tests on each pytest-xdist worker that runs
some of them (each stack has its own ports, database and Redis, so two never meet).
Without nginx, Redis, Chromium or PostgreSQL the tests skip locally and fail in CI
(.ci/run installs and starts them).
"""

import shutil

import pytest

from tests.deployed.stack import NGINX, REDIS_SERVER, running_stack
from tests.e2e.conftest import ARTIFACTS, open_browser  # noqa: F401 - the journeys' browser contexts
from tests.helpers import skip_or_fail_without


@pytest.fixture(scope="module")
def stack(browser, postgres_server, worker_id):  # the browser first: without Chromium nothing is started
    if not NGINX.exists():
        skip_or_fail_without("Debian's nginx", "apt-get install nginx-light")
    if not REDIS_SERVER.exists():
        skip_or_fail_without("redis-server", "apt-get install redis-server")
    # Its logs and emails stay for a look after a failure (one folder per xdist worker).
    folder = ARTIFACTS / f"deployed-stack-{worker_id}"
    shutil.rmtree(folder, ignore_errors=True)
    with running_stack(folder) as running:
        yield running
