"""The demo LMS's side of LTI Dynamic Registration 1.0, behaving as Moodle does.

An administrator pastes a tool's registration URL on /admin/tools; the LMS opens it in a frame
with `openid_configuration` (its OpenID configuration URL) and a single-use
`registration_token`, and waits for the tool's `org.imsglobal.lti.close` message. The tool
reads the configuration and POSTs its registration to /register with the token; the LMS
checks it as Moodle's registration helper does and answers with a client ID and a deployment
ID. The new tool is "Pending" until the administrator activates it, which makes it the tool
this LMS launches.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, jsonify, redirect, request

from scripts.demo_lms.platform import DemoPlatform

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
SCOPES = [
    AGS + "lineitem",
    AGS + "lineitem.readonly",
    AGS + "result.readonly",
    AGS + "score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
]


class RegistrationRejected(Exception):
    def __init__(self, error: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


@dataclass
class DemoTool:
    client_id: str
    deployment_id: str
    name: str
    login_url: str
    launch_url: str
    jwks_url: str
    scope: str
    registration: dict[str, Any] = field(repr=False, default_factory=dict)
    status: str = "Pending"


class DynamicRegistrar:
    """Registration tokens handed out, tools registered, and what tests make the LMS do."""

    def __init__(self, platform: DemoPlatform) -> None:
        self.platform = platform
        self.tokens: set[str] = set()
        self.tools: dict[str, DemoTool] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # Test switches: answers without a deployment_id (as Canvas), refuses with a status,
        # or serves a configuration changed by these keys (a hostile or broken LMS).
        self.omit_deployment_id = False
        self.refuse_status: int | None = None
        self.configuration_overrides: dict[str, Any] = {}
        self.registrations_received: list[dict[str, Any]] = []

    def openid_configuration(self) -> dict[str, Any]:
        p = self.platform
        config: dict[str, Any] = {
            "issuer": p.issuer,
            "authorization_endpoint": p.auth_login_url,
            "token_endpoint": p.auth_token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": p.jwks_url,
            "registration_endpoint": p.issuer + "/register",
            "scopes_supported": ["openid", *SCOPES],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            PLATFORM_CONFIGURATION: {
                "product_family_code": "demo_lms",
                "version": "1.0",
                "messages_supported": [
                    {"type": "LtiResourceLinkRequest"},
                    {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
                ],
            },
        }
        config.update(self.configuration_overrides)
        return config

    def new_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return token

    def register(self, authorization: str, body: Any) -> dict[str, Any]:
        """Check the token (used up here) and the registration, as Moodle does; the answer."""
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            if scheme.lower() != "bearer" or token not in self.tokens:
                raise RegistrationRejected("invalid_token", 401)
            self.tokens.discard(token)
        if not isinstance(body, dict):
            raise RegistrationRejected("invalid_client_metadata")
        self.registrations_received.append(body)
        for name in (
            "response_types",
            "initiate_login_uri",
            "redirect_uris",
            "client_name",
            "jwks_uri",
            "token_endpoint_auth_method",
            TOOL_CONFIGURATION,
        ):
            if not body.get(name):
                raise RegistrationRejected(f"missing required attribute {name}")
        tool_conf = body[TOOL_CONFIGURATION]
        if not isinstance(tool_conf, dict):
            raise RegistrationRejected(f"invalid {TOOL_CONFIGURATION}")
        for name in ("domain", "target_link_uri"):
            if not tool_conf.get(name):
                raise RegistrationRejected(f"missing required attribute {name}")
        if "id_token" not in body["response_types"]:
            raise RegistrationRejected("invalid_response_types")
        if not isinstance(body["redirect_uris"], list):
            raise RegistrationRejected("invalid_redirect_uris")
        if body["token_endpoint_auth_method"] != "private_key_jwt":
            raise RegistrationRejected("invalid_token_endpoint_auth_method")
        if body.get("application_type", "web") != "web":
            raise RegistrationRejected("invalid_application_type")
        if self.refuse_status is not None:
            raise RegistrationRejected("<b>refused by the demo LMS</b>", self.refuse_status)
        number = next(self._ids)
        tool = DemoTool(
            client_id=f"dyn-{number}-{secrets.token_hex(4)}",
            deployment_id=str(number),
            name=str(body["client_name"]),
            login_url=str(body["initiate_login_uri"]),
            launch_url=str(tool_conf["target_link_uri"]),
            jwks_url=str(body["jwks_uri"]),
            scope=str(body.get("scope", "")),
            registration=body,
        )
        with self._lock:
            self.tools[tool.client_id] = tool
        answer_conf: dict[str, Any] = {
            "target_link_uri": tool.launch_url,
            "domain": tool_conf["domain"],
            "description": tool_conf.get("description", ""),
            "messages": tool_conf.get("messages", []),
            "claims": ["sub", "iss", "name", "family_name", "email"],
        }
        if not self.omit_deployment_id:
            answer_conf["deployment_id"] = tool.deployment_id
        return {
            "client_id": tool.client_id,
            "response_types": ["id_token"],
            "jwks_uri": tool.jwks_url,
            "initiate_login_uri": tool.login_url,
            "grant_types": ["client_credentials", "implicit"],
            "redirect_uris": body["redirect_uris"],
            "application_type": "web",
            "token_endpoint_auth_method": "private_key_jwt",
            "client_name": tool.name,
            "scope": tool.scope,
            TOOL_CONFIGURATION: answer_conf,
        }

    def activate(self, client_id: str) -> DemoTool:
        """The administrator activates a pending tool: this LMS now launches it."""
        tool = self.tools[client_id]
        tool.status = "Active"
        p = self.platform
        p.client_id = tool.client_id
        p.deployment_id = tool.deployment_id
        p.tool_login_url = tool.login_url
        p.tool_launch_url = tool.launch_url
        p.tool_jwks_url = tool.jwks_url
        p.tool_jwks = None  # fetched from the new tool when first needed
        return tool


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}"


# The LMS's admin page, in the same look as the demo's other pages (server.PAGE).
TOOLS_BODY = """<h1>Manage tools</h1>
<form method="get" action="/admin/tools/register">
<p><label for="tool_url">Tool URL</label><br>
<input id="tool_url" name="tool_url" type="url" size="80" required>
<button type="submit">Add LTI Advantage</button></p></form>
<h2>Tools</h2>{tools}"""

# Opens the tool's registration URL in a frame and waits for its close message, accepted only
# from the tool's own origin (Moodle listens in the same way; we also check the origin).
FRAME_BODY = """<h1>Registering the tool</h1>
<p>The tool's page below asks you to confirm. This page returns to the list when it is done.
</p><iframe id="registration" src="{src}" title="Tool registration"></iframe>
<script>
const toolOrigin = {origin_js};
window.addEventListener("message", (event) => {{
  if (event.origin !== toolOrigin) return;
  if (!event.data || event.data.subject !== "org.imsglobal.lti.close") return;
  document.getElementById("registration").remove();
  window.location.assign("/admin/tools?closed=1");
}});
</script>"""


def register_dynreg(app: Flask, platform: DemoPlatform, page: str) -> DynamicRegistrar:
    """Add the registration endpoints and the admin page to the demo LMS's app."""
    registrar = DynamicRegistrar(platform)
    app.extensions["demo_registrar"] = registrar

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        return jsonify(registrar.openid_configuration())

    @app.post("/register")
    def register() -> Any:
        try:
            answer = registrar.register(
                request.headers.get("Authorization", ""), request.get_json(silent=True)
            )
        except RegistrationRejected as exc:
            return jsonify(error=exc.error), exc.status
        return jsonify(answer), 200

    @app.get("/admin/tools")
    def tools() -> str:
        rows = "".join(
            f"<tr><td>{escape(t.name)}</td><td>{escape(t.client_id)}</td>"
            f"<td>{escape(t.deployment_id)}</td><td class='status'>{escape(t.status)}</td><td>"
            + (
                f"<form method='post' action='/admin/tools/{escape(t.client_id)}/activate'>"
                f"<button type='submit'>Activate {escape(t.name)}</button></form>"
                if t.status == "Pending"
                else ""
            )
            + "</td></tr>"
            for t in registrar.tools.values()
        )
        table = (
            "<table id='tools'><thead><tr><th>Tool</th><th>Client ID</th><th>Deployment ID</th>"
            f"<th>Status</th><th>Action</th></tr></thead><tbody>{rows}</tbody></table>"
            if rows
            else "<p>No tools yet.</p>"
        )
        notice = (
            "<p id='closed' role='status'>The tool finished registering.</p>"
            if request.args.get("closed")
            else ""
        )
        return page.format(title="Manage tools", body=notice + TOOLS_BODY.format(tools=table))

    @app.get("/admin/tools/register")
    def start_registration() -> Any:
        tool_url = request.args.get("tool_url", "")
        origin = _origin(tool_url)
        if origin is None:
            return page.format(title="Bad URL", body="<h1>Enter an http(s) Tool URL</h1>"), 400
        params = urlencode(
            {
                "openid_configuration": platform.issuer + "/.well-known/openid-configuration",
                "registration_token": registrar.new_token(),
            }
        )
        src = tool_url + ("&" if "?" in tool_url else "?") + params
        body = FRAME_BODY.format(
            src=escape(src), origin_js=json.dumps(origin).replace("<", "\\u003c")
        )
        return page.format(title="Registering the tool", body=body)

    @app.post("/admin/tools/<client_id>/activate")
    def activate(client_id: str) -> Any:
        if client_id not in registrar.tools:
            return page.format(title="Not found", body="<h1>No such tool</h1>"), 404
        registrar.activate(client_id)
        return redirect("/admin/tools", code=303)

    return registrar
