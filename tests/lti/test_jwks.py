"""The per-process cache of platforms' key sets, against the platform's real JWKS endpoint."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from lti.errors import JwksUnavailable, UnknownKey
from lti.jwks import JwksCache
from scripts.demo_lms.platform import DemoPlatform


class CountingSession(requests.Session):
    """A real HTTP client that also counts the requests it makes."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    def get(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.gets += 1
        return super().get(*args, **kwargs)


def test_keys_are_fetched_once_and_then_served_from_memory(platform: DemoPlatform) -> None:
    http = CountingSession()
    cache = JwksCache(http=http)
    first = cache.key_for(platform.jwks_url, platform.kid)
    second = cache.key_for(platform.jwks_url, platform.kid)
    assert first is second
    assert first[0] == "RS256"
    assert http.gets == 1


def test_unknown_kid_refetches_but_not_more_than_once_per_interval(platform: DemoPlatform) -> None:
    http = CountingSession()
    cache = JwksCache(min_refetch_seconds=60, http=http)
    cache.key_for(platform.jwks_url, platform.kid)
    for _ in range(5):
        with pytest.raises(UnknownKey):
            cache.key_for(platform.jwks_url, "made-up-kid")
    assert http.gets == 1


def test_rotated_platform_key_is_found_by_refetching(platform: DemoPlatform) -> None:
    http = CountingSession()
    cache = JwksCache(min_refetch_seconds=0, http=http)
    cache.key_for(platform.jwks_url, platform.kid)
    new_kid = platform.rotate_key()
    assert cache.key_for(platform.jwks_url, new_kid)[0] == "RS256"
    assert http.gets == 2


def test_unreachable_jwks_is_reported_as_such() -> None:
    with pytest.raises(JwksUnavailable):
        JwksCache().key_for("http://127.0.0.1:9/jwks", "any")


def test_a_known_key_survives_the_platform_being_briefly_unreachable(
    platform: DemoPlatform,
) -> None:
    cache = JwksCache(ttl_seconds=0, min_refetch_seconds=0)
    alg, key = cache.key_for(platform.jwks_url, platform.kid)
    # The cache entry is stale (ttl 0); point the same entry at a dead URL's failure.
    cache._entries["http://127.0.0.1:9/jwks"] = cache._entries[platform.jwks_url]
    assert cache.key_for("http://127.0.0.1:9/jwks", platform.kid) == (alg, key)
