"""Reading a paged LTI service (NRPS memberships, AGS line items) from a platform that may
be slow, wrong or hostile: each page is read with a size cap and a deadline,
`Link: <...>; rel="next"` is followed only on the platform's own origins, and a platform
that never stops sending `next` (or repeats a page) is stopped after MAX_PAGES instead of
holding the job forever.

pylti1p3 follows `next` without any of these bounds (and reads any body whole), so the
services use this instead of its get_members()/get_lineitems()."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pylti1p3.exception import LtiServiceException
from pylti1p3.service_connector import ServiceConnector

from app.services.outbox import SendFailed
from lti.registry import Origin, url_origin

MAX_PAGES = 200
MAX_PAGE_BYTES = 5_000_000
MAX_URL_CHARS = 2000
PAGE_SECONDS = 60
_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*?\brel\s*=\s*"?next"?', re.IGNORECASE)


class PagingStopped(SendFailed):
    """The platform's pages could not be read to the end within the tool's bounds."""


@dataclass(frozen=True)
class Page:
    url: str
    body: Any
    next_url: str | None


def next_link(header: str) -> str | None:
    """The target of rel="next" in an HTTP Link header (RFC 8288), if any."""
    match = _NEXT.search(header.replace("\n", " "))
    return match.group(1).strip() if match else None


def get_page(
    connector: ServiceConnector, scopes: list[str], url: str, accept: str, timeout: float
) -> Page:
    """One GET with the tool's access token; the body is read up to MAX_PAGE_BYTES.
    Failing answers raise pylti1p3's LtiServiceException (so a 401 can fetch a new token)."""
    token = connector.get_access_token(scopes)
    session = connector._requests_session
    headers = {"Authorization": "Bearer " + token, "Accept": accept}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if not response.ok:
            response._content = response.raw.read(2000, decode_content=True)  # for messages
            raise LtiServiceException("There was an error making a service request.", response)
        # Read in chunks against a size cap and a whole-page deadline: the request's
        # timeout bounds each wait, not a platform that trickles a byte at a time.
        deadline = time.monotonic() + PAGE_SECONDS
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > MAX_PAGE_BYTES:
                raise PagingStopped(
                    f"a page from {_where(url)} is larger than {MAX_PAGE_BYTES} bytes: stopped"
                )
            if time.monotonic() >= deadline:
                raise PagingStopped(
                    f"a page from {_where(url)} took longer than {PAGE_SECONDS} s: stopped"
                )
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            raise PagingStopped(f"a page from {_where(url)} is not JSON") from exc
        return Page(url, body, next_link(response.headers.get("Link", "")))


def pages(
    connector: ServiceConnector,
    scopes: list[str],
    url: str,
    accept: str,
    origins: frozenset[Origin],
    timeout: float,
) -> Iterator[Page]:
    """Every page from `url` on, following rel="next" within the bounds above."""
    seen: set[str] = set()
    next_url: str | None = url
    while next_url is not None:
        if len(seen) >= MAX_PAGES:
            raise PagingStopped(f"{_where(url)} sent more than {MAX_PAGES} pages: stopped")
        if next_url in seen:
            raise PagingStopped(f"{_where(url)} sent a page twice (a loop): stopped")
        if len(next_url) > MAX_URL_CHARS or url_origin(next_url) not in origins:
            raise PagingStopped(
                f"{_where(url)} pointed its next page off the platform's origins: stopped"
            )
        seen.add(next_url)
        page = get_page(connector, scopes, next_url, accept, timeout)
        yield page
        next_url = page.next_url


def _where(url: str) -> str:
    """The origin only: a platform's URLs may carry what does not belong in a log."""
    origin = url_origin(url)
    return f"{origin[0]}://{origin[1]}:{origin[2]}" if origin else "the platform"
