"""Secrets that travel in URLs, and how to keep them out of what is written down.

Two kinds: query or fragment parameters whose names say they carry a session or a secret
(Moodle's sesskey is its CSRF token; LTI Dynamic Registration's registration_token), and the
tool's own one-time registration links, whose secret is part of the path. E-mails must never
carry the first kind; access logs must hold neither (a colleague may read them).
"""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"sess|token|secret|key|pass|auth|sig|code|ticket|nonce", re.I)
# /lti/register/<invite token> and /lti/register/attempt/<key> (lti/dynreg.py).
_SECRET_PATH = re.compile(r"(/lti/register/(?:attempt/)?)[^/?#\s]+")
_QUERY_PAIR = re.compile(r"(^|[?&;])([^=&;#\s]*)=([^&;#\s]*)")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` (a path, a query, a request line) with those secrets replaced by [redacted]."""
    text = _SECRET_PATH.sub(lambda m: m.group(1) + REDACTED, text)
    return _QUERY_PAIR.sub(
        lambda m: (
            f"{m.group(1)}{m.group(2)}={REDACTED}" if SECRET_NAME.search(m.group(2)) else m.group(0)
        ),
        text,
    )
