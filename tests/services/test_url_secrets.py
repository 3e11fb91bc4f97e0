"""Which parts of a URL are secrets, pinned: the access log and e-mails rely on it."""

from __future__ import annotations

import pytest

from app.url_secrets import redact


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/lti/register/Ab-9_x", "/lti/register/[redacted]"),
        ("/lti/register/attempt/k3y", "/lti/register/attempt/[redacted]"),
        (
            "GET /lti/register/tok?openid_configuration=https%3A%2F%2Flms&registration_token"
            "=eyJ.x.y HTTP/1.1",
            "GET /lti/register/[redacted]?openid_configuration=https%3A%2F%2Flms"
            "&registration_token=[redacted] HTTP/1.1",
        ),
        (
            "openid_configuration=a&registration_token=b",
            "openid_configuration=a&registration_token=[redacted]",
        ),
        ("registration_token=b", "registration_token=[redacted]"),
        (
            "/mod/lti/return.php?course=2&sesskey=abc123",
            "/mod/lti/return.php?course=2&sesskey=[redacted]",
        ),
        ("/lti/config?format=json", "/lti/config?format=json"),
        ("/sections/intro?x=1&y=2", "/sections/intro?x=1&y=2"),
        ("/lti/registered", "/lti/registered"),
        ("-", "-"),
    ],
)
def test_redact(given: str, expected: str) -> None:
    assert redact(given) == expected
