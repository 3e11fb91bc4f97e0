"""The API's rate limit across machines: with API_RATE_LIMIT_STORAGE_URI pointing at Redis, two
app instances (two create_app()s, as two machines behind one address) count one token's calls
together; with the default memory:// each counts its own.

Against the Redis server on 127.0.0.1:6379 (TEST_REDIS_URL to use another). Skipped if none
is reachable, except in CI (CI=true), which must prove it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from app.clock import utcnow
from app.db import db
from app.models import Organisation
from app.services import api_tokens
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import ORG, tool_client
from tests.web.test_gunicorn import free_port

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 5


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}): CI must run it")
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); CI runs it")
    yield REDIS_URL
    client.close()


@pytest.fixture
def token(app: Flask, registered: DemoPlatform) -> Iterator[tuple[str, str, str]]:
    """(raw token, its hash, the people URL of its organisation); the token's counts are
    removed from Redis afterwards (its hash is in every key, and is new in each test)."""
    with app.app_context():
        org_id = db.session.scalars(select(Organisation.id).where(Organisation.name == ORG)).one()
        row, raw = api_tokens.create(db.session(), org_id, "HR system", utcnow(), actor="cli")
        db.session.commit()
        token_hash = row.token_hash
    yield raw, token_hash, f"/api/v1/organisations/{org_id}/people"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        for key in client.scan_iter(match=f"*{token_hash}*"):
            client.delete(key)
    except redis.RedisError:
        pass  # the memory:// test may run where there is no Redis
    finally:
        client.close()


def call(machine: Flask, url: str, raw: str) -> Any:
    return tool_client(machine, use_cookies=False).get(
        url, headers={"Authorization": f"Bearer {raw}"}
    )


def test_two_machines_sharing_redis_refuse_exactly_the_call_over_the_limit(
    make_app: Any, redis_url: str, token: tuple[str, str, str]
) -> None:
    raw, token_hash, url = token
    machines = [
        make_app(API_RATE_LIMIT=f"{LIMIT} per hour", API_RATE_LIMIT_STORAGE_URI=redis_url)
        for _ in range(2)
    ]
    # Calls alternate between the machines, as a load balancer sends them.
    answers = [call(machines[n % 2], url, raw) for n in range(LIMIT + 1)]
    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == [
        str(LIMIT - n) for n in range(1, LIMIT + 1)
    ] + ["0"]
    assert call(machines[0], url, raw).status_code == 429
    # The count is in Redis, under the token's hash (never the token itself).
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [k.decode() for k in client.scan_iter(match=f"*{token_hash}*")]
        assert keys and all(raw not in k for k in keys)
    finally:
        client.close()


def test_with_memory_each_machine_counts_its_own(
    make_app: Any, token: tuple[str, str, str]
) -> None:
    raw, _, url = token
    machines = [make_app(API_RATE_LIMIT=f"{LIMIT} per hour") for _ in range(2)]
    assert all(m.config["API_RATE_LIMIT_STORAGE_URI"] == "memory://" for m in machines)
    answers = [call(machines[n % 2], url, raw) for n in range(2 * LIMIT)]
    assert [a.status_code for a in answers] == [200] * (2 * LIMIT)  # each allowed LIMIT
    assert [call(m, url, raw).status_code for m in machines] == [429, 429]


def test_a_shared_store_that_cannot_be_reached_still_limits_each_machine(
    make_app: Any, token: tuple[str, str, str]
) -> None:
    """Redis down (nothing listens on its port): the API still answers, and each process
    counts in memory until the store is back."""
    raw, _, url = token
    machine = make_app(
        API_RATE_LIMIT=f"{LIMIT} per hour",
        API_RATE_LIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
    )
    answers = [call(machine, url, raw).status_code for _ in range(LIMIT + 1)]
    assert answers == [200] * LIMIT + [429]
