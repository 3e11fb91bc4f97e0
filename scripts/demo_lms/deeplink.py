"""Deep Linking 2.0 on the demo LMS: a course editor's "Add an activity > Select content".

The platform's side, built on `lti1p3platform` (set_dl for the request's settings,
validate_deeplinking_resp to verify the tool's answer with the tool's JWKS), so the tool's
deep linking is checked against an implementation that is not its own. What the tool
answers becomes a new resource link in the course, with the line item its `lineItem` asks
for; a learner's launch of that link names the line item, as Moodle's would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt
from flask import Flask, Response, request

from scripts.demo_lms.platform import LIS, _Conf, _Launch, _Login, _PlainRequest

if TYPE_CHECKING:
    from scripts.demo_lms.platform import DemoPlatform

HINT = "select-content"  # the link part of lti_message_hint for a deep linking launch
MESSAGE_TYPE = "https://purl.imsglobal.org/spec/lti/claim/message_type"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
SETTINGS = DL + "deep_linking_settings"


@dataclass
class DemoLink:
    """A resource link a course editor added with the tool's content picker."""

    link_id: str
    title: str
    custom: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    lineitem: str | None = None  # the URL of the line item made for it, if any


class DeepLinkRefused(Exception):
    """The tool answered with no content and a message (errormsg), or an invalid answer."""


def is_deep_link(query: dict[str, str]) -> bool:
    return (query.get("lti_message_hint") or "").partition("|")[2] == HINT


def login_initiation_url(platform: DemoPlatform, user_id: str, context_id: str) -> str:
    login = _Login(_PlainRequest({}), _Conf(registration=platform.registration()))
    login.set_lti_message_hint(hint=f"{context_id}|{HINT}")
    return login.initiate_login(user_id)  # type: ignore[no-any-return]


def return_url(platform: DemoPlatform) -> str:
    return platform.issuer + "/deeplink/return"


def request_message(
    platform: DemoPlatform,
    user_id: str,
    context_id: str,
    nonce: str,
    accept_types: set[str] | None = None,
) -> dict[str, Any]:
    """The LtiDeepLinkingRequest's claims: lti1p3platform's set_dl settings, plus the
    line items this LMS makes and its own `data` naming the pending choice."""
    person, course = platform.people[user_id], platform.courses[context_id]
    conf = _Conf(registration=platform.registration())
    launch = _Launch(_PlainRequest({}), conf)
    launch._registration = conf.get_registration()
    launch.set_user_data(person.user_id, person.roles, person.name, person.email)
    launch.set_launch_context_claim(
        course.context_id,
        context_types=[LIS + "course#CourseOffering"],
        context_title=course.title,
        context_label=course.label,
    )
    launch.set_dl(return_url(platform), title="Add an activity", accept_types=accept_types)
    message = launch.get_launch_message()
    message.update(launch._deep_linking_launch_data or {})
    message[MESSAGE_TYPE] = "LtiDeepLinkingRequest"
    data = secrets.token_urlsafe(12)
    platform.deep_link_requests[data] = (user_id, context_id)
    message[SETTINGS] = dict(message[SETTINGS], accept_lineitem=True, data=data)
    message["nonce"] = nonce
    return message


def authorize(platform: DemoPlatform, query: dict[str, str]) -> dict[str, str]:
    """The auth endpoint's answer to a deep linking login: every check of a resource link
    launch's (asked of the course's own link), then the signed request."""
    context_id = (query.get("lti_message_hint") or "").partition("|")[0]
    course = platform.courses.get(context_id)
    checked = dict(
        query, lti_message_hint=f"{context_id}|{course.resource_link_id if course else ''}"
    )
    person, course = platform.check_auth_request(checked)
    token = platform.sign(
        request_message(platform, person.user_id, course.context_id, query["nonce"])
    )
    return {"action": query["redirect_uri"], "id_token": token, "state": query["state"]}


def _verified(platform: DemoPlatform, token: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """lti1p3platform's check of the answer with the tool's published keys, fetched again
    once if the cached copy no longer verifies it (after the tool rotated its key)."""
    fetched = False
    if platform.tool_jwks is None:
        platform.fetch_tool_jwks()
        fetched = True
    for attempt in (1, 2):
        conf = platform.conf()
        conf.set_accepted_deeplinking_types(["ltiResourceLink"])
        try:
            items = conf.validate_deeplinking_resp({"JWT": token})
            break
        except Exception:
            if fetched or attempt == 2:
                raise
            platform.fetch_tool_jwks()
    # Verified above; read the other claims lti1p3platform does not return.
    claims = jwt.decode(token, options={"verify_signature": False})
    return items, claims


def accept_response(platform: DemoPlatform, token: str) -> tuple[str, list[DemoLink]]:
    """Check the tool's LtiDeepLinkingResponse and add what it holds to the course."""
    try:
        items, claims = _verified(platform, token)
    except Exception as exc:
        raise DeepLinkRefused(f"The tool's answer could not be verified: {exc}") from exc
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if claims.get("iss") != platform.client_id or platform.issuer not in audiences:
        raise DeepLinkRefused("The answer is not from this tool to this LMS.")
    if (
        claims.get("https://purl.imsglobal.org/spec/lti/claim/deployment_id")
        != platform.deployment_id
    ):
        raise DeepLinkRefused("The answer names another deployment.")
    pending = platform.deep_link_requests.pop(str(claims.get(DL + "data")), None)
    if pending is None:
        raise DeepLinkRefused("The answer is for no pending request (or was already used).")
    _, context_id = pending
    if claims.get(DL + "errormsg") is not None:
        raise DeepLinkRefused(str(claims[DL + "errormsg"]))
    added = [add_link(platform, context_id, item) for item in items]
    return context_id, added


def add_link(platform: DemoPlatform, context_id: str, item: dict[str, Any]) -> DemoLink:
    link = DemoLink(
        link_id="dl-" + secrets.token_hex(4),
        title=str(item.get("title") or "Untitled activity"),
        custom={str(k): str(v) for k, v in (item.get("custom") or {}).items()},
        target="window" if "window" in item else "iframe" if "iframe" in item else None,
    )
    wanted = item.get("lineItem")
    if isinstance(wanted, dict):
        made = platform.create_lineitem(
            context_id,
            {
                "label": str(wanted.get("label") or link.title),
                "scoreMaximum": wanted["scoreMaximum"],
                "resourceLinkId": link.link_id,
                **({"tag": wanted["tag"]} if "tag" in wanted else {}),
                **({"resourceId": wanted["resourceId"]} if "resourceId" in wanted else {}),
            },
        )
        link.lineitem = made["id"]
    platform.added_links.setdefault(context_id, {})[link.link_id] = link
    return link


def add_routes(app: Flask, platform: DemoPlatform, page: str) -> None:
    from html import escape

    @app.get("/course/<context_id>/<user_id>/select")
    def select_content(context_id: str, user_id: str) -> tuple[str, int] | str:
        person, course = platform.people.get(user_id), platform.courses.get(context_id)
        if person is None or course is None:
            return page.format(title="Not found", body="<h1>Not found</h1>"), 404
        src = f"/deeplink/start/{escape(user_id)}/{escape(context_id)}"
        body = (
            f"<p><a href='/'>Back to the course</a></p><h1>Add an activity: select content</h1>"
            f"<p>{escape(course.title)}. Signed in to the LMS as {escape(person.name)}.</p>"
            f"<iframe src='{src}' title='Select content from the tool'></iframe>"
        )
        return page.format(title="Select content", body=body)

    @app.get("/deeplink/start/<user_id>/<context_id>")
    def start_deep_link(user_id: str, context_id: str) -> Response | tuple[str, int]:
        if user_id not in platform.people or context_id not in platform.courses:
            return page.format(title="Not found", body="<h1>Not found</h1>"), 404
        response = Response(status=302)
        response.headers["Location"] = login_initiation_url(platform, user_id, context_id)
        return response

    @app.post("/deeplink/return")
    def deep_link_return() -> tuple[str, int] | str:
        try:
            context_id, links = accept_response(platform, request.form.get("JWT", ""))
        except DeepLinkRefused as exc:
            body = f"<h1>Nothing was added</h1><p id='message'>{escape(str(exc))}</p>"
            return page.format(title="Nothing was added", body=body), 400
        items = "".join(f"<li>{escape(link.title)}</li>" for link in links)
        body = (
            f"<h1>Activity added</h1><ul id='added'>{items}</ul>"
            f"<p><a target='_top' href='/'>Back to the course ({escape(context_id)})</a></p>"
        )
        return page.format(title="Activity added", body=body)
