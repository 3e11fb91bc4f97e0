"""Platforms' public keys, fetched from their JWKS URLs and kept per process.

A token naming a kid we do not hold makes us fetch the set again (some LMSs rotate keys
hourly), but not more than once every few seconds per URL, so that made-up kids cannot
turn the tool into a request amplifier against the LMS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests

from lti.errors import JwksUnavailable, UnknownKey

FETCH_TIMEOUT_SECONDS = 5.0


@dataclass
class _Entry:
    fetched_at: float
    keys: dict[str, tuple[str, Any]] = field(default_factory=dict)  # kid -> (alg, key object)


class JwksCache:
    def __init__(
        self,
        ttl_seconds: int = 3600,
        min_refetch_seconds: float = 5.0,
        http: requests.Session | None = None,
    ) -> None:
        self.ttl = ttl_seconds
        self.min_refetch = min_refetch_seconds
        self.http = http or requests.Session()
        self.http.headers["User-Agent"] = "corporate-parenting-module (LTI tool)"
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _fetch(self, url: str) -> _Entry:
        try:
            resp = self.http.get(url, timeout=FETCH_TIMEOUT_SECONDS)
            resp.raise_for_status()
            data = resp.json()
            raw_keys = data["keys"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise JwksUnavailable(
                f"fetching {url}: {exc.__class__.__name__}", jwks_url=url
            ) from exc
        entry = _Entry(fetched_at=time.monotonic())
        for raw in raw_keys if isinstance(raw_keys, list) else []:
            if not isinstance(raw, dict) or raw.get("kty") != "RSA" or not raw.get("kid"):
                continue
            if raw.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(raw, algorithm=raw.get("alg", "RS256"))
            except jwt.PyJWKError:
                continue
            entry.keys[raw["kid"]] = (raw.get("alg", "RS256"), key.key)
        return entry

    def key_for(self, url: str, kid: str) -> tuple[str, Any]:
        """(alg, public key) for this kid, fetching or re-fetching the set when needed."""
        now = time.monotonic()
        entry = self._entries.get(url)
        if entry is not None and kid in entry.keys and now - entry.fetched_at < self.ttl:
            return entry.keys[kid]
        with self._lock:
            entry = self._entries.get(url)
            stale = entry is None or now - entry.fetched_at >= self.ttl
            missing = entry is None or kid not in entry.keys
            recently = entry is not None and now - entry.fetched_at < self.min_refetch
            if stale or (missing and not recently):
                try:
                    entry = self._fetch(url)
                except JwksUnavailable:
                    # A stale key we already hold is better than refusing everyone.
                    if entry is not None and kid in entry.keys:
                        return entry.keys[kid]
                    raise
                self._entries[url] = entry
        assert entry is not None
        if kid not in entry.keys:
            raise UnknownKey(f"kid {kid!r} not in {url}", kid=kid, jwks_url=url)
        return entry.keys[kid]
