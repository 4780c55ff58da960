"""The production-shaped stack (tests/deployed/stack.py) for the journeys over HTTPS, and the browser of tests/e2e.

The stack is module-scoped and its tests share one xdist group, so under `pytest -n 2
--dist loadgroup` (pyproject's addopts) one worker starts one stack. Without nginx,
Chromium, PostgreSQL or Redis the tests skip locally and fail in CI (.ci/run installs
and starts them).
"""

import shutil

import pytest
import redis

from tests.deployed.stack import NGINX, REDIS_DB_FOR_TESTS, REDIS_SERVER, running_stack
from tests.e2e.conftest import ARTIFACTS, browser, open_browser, skip_or_fail_without  # noqa: F401 - shared fixtures


@pytest.fixture(scope="module")
def stack(browser, postgres_server):  # noqa: F811 - the browser first: without Chromium nothing is started
    if not NGINX.exists():
        skip_or_fail_without("Debian's nginx", "apt-get install nginx-light")
    try:
        redis.Redis.from_url(REDIS_SERVER, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        skip_or_fail_without(f"Redis at {REDIS_SERVER}", f".ci/run starts redis-server ({type(error).__name__})")
    folder = ARTIFACTS / "deployed-stack"  # its logs and emails stay for a look after a failure
    shutil.rmtree(folder, ignore_errors=True)
    with running_stack(folder, redis_db=REDIS_DB_FOR_TESTS) as running:
        yield running
