"""LTI Deep Linking 2.0: reading an LtiDeepLinkingRequest's settings, and building the
signed LtiDeepLinkingResponse (pylti1p3's DeepLink) that places the module in a course.

The rest of the app sees a DeepLinkContext and plain settings; only this module knows the
claims' names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem
from pylti1p3.registration import Registration

from lti import errors
from lti.registry import RegistrationInfo, url_origin
from lti.roles import _LIS

DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
RESOURCE_LINK = "ltiResourceLink"
LINE_ITEM_TAG = "corporate-parenting"
SCORE_MAXIMUM = 100
MAX_DATA = 4096  # the platform's opaque `data`, echoed unchanged: never cut, so refused if longer
MAX_TITLE = 200
MAX_ACCEPT = 20
TARGETS = ("iframe", "window")
_HOST = re.compile(r"[a-z0-9.-]{1,253}")

# Who may place content: those who edit a course. Principal roles only: a sub-role such as
# Instructor#TeachingAssistant does not edit the course in Moodle or Canvas.
EDITOR_ROLES = frozenset(
    {
        _LIS + "membership#Instructor",
        _LIS + "membership#ContentDeveloper",
        _LIS + "membership#Administrator",
        _LIS + "institution/person#Instructor",
        _LIS + "institution/person#Administrator",
        _LIS + "system/person#Administrator",
        # Short context role names, which LTI 1.3 allows for older platforms.
        "Instructor",
        "ContentDeveloper",
        "Administrator",
    }
)


class ForeignReturnUrl(errors.LaunchError):
    # The tool's page posts a signed response there: on another site it would hand a
    # course editor's signed choice (and their browser's post) to whoever named it.
    code = "foreign_deep_link_return_url"
    message = "The learning portal asked to send your choice to a place that is not part of it."
    admin_hint = (
        "deep_link_return_url must be an http(s) URL on the origin of the platform's login,"
        " token or JWKS URL, or one added with `flask --app app lti add-platform"
        " --service-origin`."
    )


class BadDeepLinkSettings(errors.LaunchError):
    code = "bad_deep_linking_settings"
    message = "The learning portal's request to choose content was not in the expected form."


@dataclass(frozen=True)
class DeepLinkSettings:
    """The deep_linking_settings claim, checked. Stored as JSON until the editor answers."""

    return_url: str
    accept_types: tuple[str, ...]
    accept_targets: tuple[str, ...]
    accept_multiple: bool | None
    accept_lineitem: bool | None
    auto_create: bool | None
    data: str | None
    deployment_id: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> DeepLinkSettings:
        return cls(
            return_url=str(stored["return_url"]),
            accept_types=tuple(stored["accept_types"]),
            accept_targets=tuple(stored["accept_targets"]),
            accept_multiple=stored.get("accept_multiple"),
            accept_lineitem=stored.get("accept_lineitem"),
            auto_create=stored.get("auto_create"),
            data=stored.get("data"),
            deployment_id=str(stored["deployment_id"]),
        )

    @property
    def accepts_links(self) -> bool:
        return RESOURCE_LINK in self.accept_types

    @property
    def offers_target_choice(self) -> bool:
        """Both places to open are accepted: only then is there a choice to ask about."""
        return all(t in self.accept_targets for t in TARGETS)

    @property
    def wants_line_item(self) -> bool:
        # Absent means the platform says nothing either way (the spec): send it, a platform
        # that cannot make grade columns ignores it. Only an explicit false leaves it out.
        return self.accept_lineitem is not False


@dataclass(frozen=True)
class DeepLinkContext:
    settings: DeepLinkSettings
    may_place: bool  # a course editor (see EDITOR_ROLES)


def _bool(value: Any) -> bool | None:
    # The spec says boolean; some platforms send "true"/"false" strings.
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    return None


def may_place_content(lti_roles: tuple[str, ...]) -> bool:
    return any(r.strip() in EDITOR_ROLES for r in lti_roles)


def deep_link_context(
    reg: RegistrationInfo,
    body: Mapping[str, Any],
    deployment_id: str,
    lti_roles: tuple[str, ...],
    facts: dict[str, str],
) -> DeepLinkContext:
    """The request's settings, each checked; raises a LaunchError (the usual error page)."""
    claim = body.get(SETTINGS_CLAIM)
    if not isinstance(claim, dict):
        raise errors.MissingClaim("deep_linking_settings", **facts)
    url = claim.get("deep_link_return_url")
    if not isinstance(url, str) or not url:
        raise errors.MissingClaim("deep_linking_settings.deep_link_return_url", **facts)
    found = url_origin(url) if len(url) <= 2000 else None
    # The host also goes into the answer page's CSP header: plain host names only.
    if found is None or found not in reg.service_origins or not _HOST.fullmatch(found[1]):
        where = "://".join(found[:2]) + f":{found[2]}" if found else "not an http(s) URL"
        raise ForeignReturnUrl(f"deep_link_return_url on {where[:200]}", **facts)
    accept = claim.get("accept_types")
    if not isinstance(accept, list) or not all(isinstance(t, str) for t in accept):
        raise BadDeepLinkSettings("accept_types is not a list of strings", **facts)
    targets = claim.get("accept_presentation_document_targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise BadDeepLinkSettings("accept_presentation_document_targets is not a list", **facts)
    data = claim.get("data")
    if data is not None and not isinstance(data, str):
        raise BadDeepLinkSettings("data is not a string", **facts)
    if data is not None and len(data) > MAX_DATA:
        raise BadDeepLinkSettings(f"data longer than {MAX_DATA} characters", **facts)
    return DeepLinkContext(
        settings=DeepLinkSettings(
            return_url=url,
            accept_types=tuple(t[:50] for t in accept[:MAX_ACCEPT]),
            accept_targets=tuple(t[:20] for t in targets[:MAX_ACCEPT]),
            accept_multiple=_bool(claim.get("accept_multiple")),
            accept_lineitem=_bool(claim.get("accept_lineitem")),
            auto_create=_bool(claim.get("auto_create")),
            data=data,
            deployment_id=deployment_id,
        ),
        may_place=may_place_content(lti_roles),
    )


@dataclass(frozen=True)
class Placement:
    """What the course editor chose."""

    title: str
    launch_url: str
    target: str | None  # "iframe", "window", or None: the platform's default


def _deep_link(registration: Registration, settings: DeepLinkSettings) -> DeepLink:
    return DeepLink(
        registration,
        settings.deployment_id,
        {"deep_link_return_url": settings.return_url, "data": settings.data},
    )


def _message(
    registration: Registration, settings: DeepLinkSettings, items: list[DeepLinkResource]
) -> dict[str, Any]:
    message = _deep_link(registration, settings).get_message_jwt(items)
    if settings.data is None:  # echoed only when the platform sent one
        message.pop(DL + "data", None)
    return message


def placement_response(
    registration: Registration, settings: DeepLinkSettings, placement: Placement
) -> str:
    """The signed response holding one LTI resource link to the module, with its grade
    column (out of 100) where the platform makes them, so completion can follow it."""
    resource = (
        DeepLinkResource()
        .set_type(RESOURCE_LINK)
        .set_title(placement.title)
        .set_url(placement.launch_url)
    )
    if placement.target is not None:
        resource.set_target(placement.target)
    if settings.wants_line_item:
        resource.set_lineitem(
            LineItem()
            .set_score_maximum(SCORE_MAXIMUM)
            .set_label(placement.title)
            .set_resource_id(LINE_ITEM_TAG)
            .set_tag(LINE_ITEM_TAG)
        )
    item = resource.to_dict()
    if placement.target is not None:
        # pylti1p3 does not write the target; the spec's place for it is `window` / `iframe`.
        item[placement.target] = {}
    message = _message(registration, settings, [])
    message[DL + "content_items"] = [item]
    return _deep_link(registration, settings).encode_jwt(message)


def refusal_response(
    registration: Registration, settings: DeepLinkSettings, message: str, log: str
) -> str:
    """A signed response with no content and the reason, so the LMS closes its picker and
    shows the message instead of waiting."""
    claims = _message(registration, settings, [])
    claims[DL + "errormsg"] = message
    claims[DL + "errorlog"] = log
    return _deep_link(registration, settings).encode_jwt(claims)
