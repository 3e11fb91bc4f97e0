"""A bare pylti1p3 Flask tool: the calibration baseline for scripts/bench_launch.py.

Not part of the product. It is the plain pylti1p3 Flask integration as its documentation
describes it (FlaskOIDCLogin, FlaskMessageLaunch, a ToolConfDict) and stores nothing: the
state is pylti1p3's own state cookie, and the nonce and the launch data live in Flask's
default signed-cookie session (cookie `session`), so the browser carries everything.

    .venv/bin/python -m scripts.bench_launch --baseline

Configuration from the environment (the benchmark sets it): BARE_ISSUER, BARE_CLIENT_ID,
BARE_DEPLOYMENT_ID, BARE_JWKS_URL and SECRET_KEY. The platform's auth URL is the issuer +
"/auth" (only the login's redirect names it). The tool's own RSA key is generated at start;
the configuration requires one, and a launch never uses it.

The platform's keys: by default the tool reads BARE_JWKS_URL once at start and keeps the key
set in its configuration (ToolConfDict's "key_set"), as the project's tool keeps a per-process
cache. With BARE_FETCH_KEYS=1 it gives pylti1p3 only the URL, and pylti1p3 then fetches the key
set on every launch: ToolConfDict builds a new Registration for each launch, and MessageLaunch
caches keys only when set_public_key_caching() is given a cache (none here: the tool stores
nothing), so each launch makes one HTTP GET of the key set on a new connection.
"""

from __future__ import annotations

import os
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, redirect, session, url_for
from markupsafe import escape
from pylti1p3.contrib.flask import (
    FlaskCookieService,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
    FlaskSessionService,
)
from pylti1p3.exception import LtiException, OIDCException, ToolConfException
from pylti1p3.tool_config import ToolConfDict

# What pylti1p3 raises for a login or launch it refuses (the last two are not LtiExceptions).
REFUSED = (LtiException, OIDCException, ToolConfException)


def create_app() -> Flask:
    issuer = os.environ["BARE_ISSUER"]
    fetch_keys = os.environ.get("BARE_FETCH_KEYS") == "1"
    key_set = None if fetch_keys else requests.get(os.environ["BARE_JWKS_URL"], timeout=10).json()
    tool_conf = ToolConfDict(
        {
            issuer: {
                "default": True,
                "client_id": os.environ["BARE_CLIENT_ID"],
                "auth_login_url": issuer + "/auth",
                "auth_token_url": issuer + "/token",
                "key_set_url": os.environ["BARE_JWKS_URL"] if fetch_keys else None,
                "key_set": key_set,
                "deployment_ids": [os.environ["BARE_DEPLOYMENT_ID"]],
            }
        }
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tool_conf.set_private_key(
        issuer,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )

    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]

    def lti_request() -> tuple[FlaskRequest, FlaskSessionService, FlaskCookieService]:
        req = FlaskRequest()
        return req, FlaskSessionService(req), FlaskCookieService(req)

    @app.route("/lti/login", methods=["GET", "POST"])
    def login() -> Any:
        req, sessions, cookies = lti_request()
        oidc = FlaskOIDCLogin(req, tool_conf, session_service=sessions, cookie_service=cookies)
        try:
            return oidc.redirect(url_for("launch", _external=True))
        except REFUSED as exc:
            return f"LTI login refused: {escape(str(exc))}", 400

    @app.post("/lti/launch")
    def launch() -> Any:
        req, sessions, cookies = lti_request()
        message = FlaskMessageLaunch(
            req, tool_conf, session_service=sessions, cookie_service=cookies
        )
        try:
            data = message.get_launch_data()
        except REFUSED as exc:
            return f"LTI launch refused: {escape(str(exc))}", 400
        session["name"] = data.get("name") or data.get("sub")
        return redirect(url_for("home"))

    @app.get("/")
    def home() -> Any:
        name = session.get("name")
        if not name:
            return "Open this tool from your learning platform.", 401
        return f"<!doctype html><title>Bare tool</title><h1>Welcome, {escape(name)}</h1>"

    @app.get("/healthz")
    def healthz() -> Any:
        return "ok"

    return app
