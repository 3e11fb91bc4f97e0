"""Drives the LTI 1.3 flow against the tool the way an LMS and a browser do.

The platform side is the independent DemoPlatform (lti1p3platform); its auth endpoint is
called over real HTTP. Tests that need a bad token build the claims the platform would
sign, change them, and sign them with whatever key the case needs.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from scripts.demo_lms.platform import DemoPlatform, query_of


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action")
        if tag == "input" and a.get("name"):
            self.fields[a["name"] or ""] = a.get("value") or ""


def parse_form(html: str) -> tuple[str | None, dict[str, str]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.action, parser.fields


class Flow:
    def __init__(self, client: FlaskClient, platform: DemoPlatform, http: requests.Session):
        self.client = client
        self.platform = platform
        self.http = http

    def login(
        self,
        user_id: str = "u-aisha",
        context_id: str = "cp-2026",
        *,
        method: str = "get",
        client: FlaskClient | None = None,
        **overrides: str,
    ) -> TestResponse:
        params = self.platform.login_params(user_id, context_id)
        params.update(overrides)
        c = client or self.client
        if method == "post":
            return c.post("/lti/login", data=params)
        return c.get("/lti/login", query_string=params)

    def auth_query(self, user_id: str = "u-aisha", **kw: Any) -> dict[str, str]:
        response = self.login(user_id, **kw)
        assert response.status_code == 302, response.get_data(as_text=True)
        return query_of(response.location)

    def platform_answer(self, auth_query: dict[str, str]) -> dict[str, str]:
        """Ask the platform's auth endpoint over HTTP, as the browser's redirect would."""
        response = self.http.get(self.platform.auth_login_url, params=auth_query, timeout=10)
        assert response.status_code == 200, response.text
        action, fields = parse_form(response.text)
        assert action == self.platform.tool_launch_url
        return fields

    def launch(self, form: dict[str, str], client: FlaskClient | None = None) -> TestResponse:
        return (client or self.client).post("/lti/launch", data=form)

    def launch_as(self, user_id: str = "u-aisha") -> TestResponse:
        """Login -> platform -> launch; returns the launch response (the first page)."""
        return self.launch(self.platform_answer(self.auth_query(user_id)))

    def forged(
        self,
        user_id: str = "u-aisha",
        mutate: Callable[[dict[str, Any]], None] | None = None,
        **sign: Any,
    ) -> tuple[TestResponse, dict[str, str]]:
        """A launch whose token the test shapes: real login, then claims changed and signed."""
        query = self.auth_query(user_id)
        person = self.platform.people[user_id]
        course = next(iter(self.platform.courses.values()))
        claims = self.platform.launch_message(person, course, query["nonce"])
        if mutate:
            mutate(claims)
        token = self.platform.sign(claims, **sign)
        form = {"id_token": token, "state": query["state"]}
        return self.launch(form), form
