"""A small LTI 1.3 platform (an LMS stand-in) built on the `lti1p3platform` library.

It knows nothing of the tool's code: it signs id_tokens with its own key, serves its own
JWKS, and talks to the tool only over HTTP, as Moodle or Canvas would. The demo runs it
next to the tool, and the tests use it as their independent platform.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context, Status
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.score import ActivityProgress, GradeProgress
from lti1p3platform.service_connector import NamesRoleProvisioningService, TPage

from scripts.demo_lms.storage import STORAGE_TARGET

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
ROLE_LEARNER = LIS + "membership#Learner"
ROLE_INSTRUCTOR = LIS + "membership#Instructor"
ROLE_MENTOR = LIS + "membership#Mentor"
ROLE_ADMIN = LIS + "membership#Administrator"
ROLE_INST_ADMIN = LIS + "institution/person#Administrator"
ROLE_STAFF = LIS + "institution/person#Staff"


@dataclass
class DemoPerson:
    user_id: str
    name: str
    given_name: str
    family_name: str
    email: str
    roles: list[str]
    description: str = ""
    custom: dict[str, str] = field(default_factory=dict)
    sourcedid: str | None = None  # the HR system's employee id, as LIS person_sourcedid
    launches: bool = True  # False: enrolled in the course but never opens the module


@dataclass
class DemoCourse:
    context_id: str
    title: str
    label: str
    resource_link_id: str
    resource_link_title: str


def new_rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_jwk(private_pem: str, kid: str) -> dict[str, Any]:
    jwk = json.loads(JWK.from_pem(private_pem.encode()).export_public())
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return jwk


class _PlainRequest(Request):
    """lti1p3platform's request shape, filled from plain dicts (no web framework needed)."""

    def __init__(self, query: dict[str, str]) -> None:
        self.request: TRequest = {
            "method": "GET",
            "form_data": {},
            "get_data": dict(query),
            "headers": {},
            "content_type": None,
            "path": "",
            "json": None,
        }

    def build_metadata(self, request: Any) -> TRequest:  # pragma: no cover - not used
        return self.request


class ServiceRequest(Request):
    """lti1p3platform's request shape for a service call (its handlers read this)."""

    def __init__(self, method: str, query: dict[str, Any], headers: dict[str, str]) -> None:
        self.request = {
            "method": method,
            "form_data": {},
            "get_data": dict(query),
            "headers": dict(headers),
            "content_type": None,
            "path": "",
            "json": None,
        }

    def build_metadata(self, request: Any) -> TRequest:  # pragma: no cover - not used
        return self.request


class LibraryMemberships(NamesRoleProvisioningService):
    """The memberships service as lti1p3platform implements it: its bearer-token check, its
    refusal (403) of an rlid not in the course, its member checks (user_id and roles
    required, status filled in). The demo supplies only the data."""

    def __init__(self, request: Request, platform: DemoPlatform, context_id: str) -> None:
        super().__init__(request, platform.conf(), platform.memberships_url(context_id))
        self.platform = platform
        self.context_id = context_id

    def get_context_by_id(self) -> Context:
        course = self.platform.courses[self.context_id]
        return Context(id=course.context_id, label=course.label, title=course.title)

    def is_resource_link_valid(self, context_id: str, resource_link_id: str) -> bool:
        return resource_link_id in self.platform.links_of(context_id)

    def get_member_data_page(  # type: ignore[override]
        self, page: int = 1, limit: int | None = None, rlid: str | None = None, **_: Any
    ) -> TPage:
        members = self.platform.members(self.context_id, rlid)
        size = limit or len(members) or 1
        chunk = members[(page - 1) * size : page * size]
        return {"content": chunk, "has_next": page * size < len(members), "next": None}


class _Conf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._reg = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._reg  # type: ignore[no-any-return]


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _Launch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class AuthError(Exception):
    """An authentication request the platform refuses (as an LMS would, with a message)."""


class BadServiceRequest(Exception):
    """A service request the platform answers with HTTP 400 (as an LMS would)."""


SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_score(content_type: str | None, score: Any) -> None:
    """A score as AGS 2.0 (Score publish service) requires it, or BadServiceRequest: the
    media type, userId, timestamp (ISO 8601 with time zone), activityProgress and
    gradingProgress from lti1p3platform's enumerations, and scoreGiven with scoreMaximum."""
    if _media_type(content_type) != SCORE_TYPE:
        raise BadServiceRequest(f"Content-Type must be {SCORE_TYPE}")
    if not isinstance(score, dict):
        raise BadServiceRequest("a score is a JSON object")
    if not isinstance(score.get("userId"), str) or not score["userId"]:
        raise BadServiceRequest("userId is required")
    stamp = score.get("timestamp")
    try:
        parsed = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if not isinstance(stamp, str) or parsed is None or parsed.tzinfo is None:
        raise BadServiceRequest("timestamp must be ISO 8601 with a time zone")
    if score.get("activityProgress") not in {p.value for p in ActivityProgress}:
        raise BadServiceRequest("activityProgress is not one of the specification's values")
    if score.get("gradingProgress") not in {p.value for p in GradeProgress}:
        raise BadServiceRequest("gradingProgress is not one of the specification's values")
    given, maximum = score.get("scoreGiven"), score.get("scoreMaximum")
    if given is not None:
        if not _number(given) or given < 0:
            raise BadServiceRequest("scoreGiven must be a number, 0 or more")
        if not _number(maximum) or maximum <= 0:
            raise BadServiceRequest("scoreMaximum must be a number above 0 with scoreGiven")


def check_lineitem(content_type: str | None, item: Any) -> None:
    """A new line item as AGS 2.0 (Line item service) requires it, or BadServiceRequest."""
    if _media_type(content_type) != LINEITEM_TYPE:
        raise BadServiceRequest(f"Content-Type must be {LINEITEM_TYPE}")
    if not isinstance(item, dict):
        raise BadServiceRequest("a line item is a JSON object")
    if not isinstance(item.get("label"), str) or not item["label"].strip():
        raise BadServiceRequest("label is required")
    if not _number(item.get("scoreMaximum")) or item["scoreMaximum"] <= 0:
        raise BadServiceRequest("scoreMaximum must be a number above 0")
    for key in ("resourceLinkId", "resourceId", "tag"):
        if key in item and not isinstance(item[key], str):
            raise BadServiceRequest(f"{key} must be a string")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class DemoPlatform:
    """One registration of the tool in one LMS, with people and a course."""

    def __init__(
        self,
        *,
        issuer: str,
        tool_base_url: str,
        client_id: str = "demo-tool",
        deployment_id: str = "demo-deployment",
        people: list[DemoPerson] | None = None,
        courses: list[DemoCourse] | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.tool_login_url = tool_base_url.rstrip("/") + "/lti/login"
        self.tool_launch_url = tool_base_url.rstrip("/") + "/lti/launch"
        self.tool_jwks_url = tool_base_url.rstrip("/") + "/lti/jwks"
        self.people = {p.user_id: p for p in (people or default_people())}
        self.courses = {c.context_id: c for c in (courses or default_courses())}
        # Who is enrolled where: a course not named here has every person in it.
        self.enrolled: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        # Assignment and Grade Services: line items per course, and every score received.
        self.lineitems: dict[str, list[dict[str, Any]]] = {c: [] for c in self.courses}
        self.scores: list[dict[str, Any]] = []
        self.offer_lineitem = False  # True: launches name a ready-made line item
        # Resource links per course (the module placed more than once), each with who may
        # see it (None: everyone enrolled), as an LMS's group or access restrictions; a
        # course's own DemoCourse.resource_link_id is always one of them.
        self.links: dict[str, dict[str, set[str] | None]] = {}
        # A platform gone wrong, for tests: "endless" (memberships always offer a next
        # page), "same-page" (next is the page itself), "foreign-next" (next on another site).
        self.misbehave: str | None = None
        # Called just before a line item is created (a test's stand-in for another
        # process of the tool creating one at the same moment).
        self.before_create: Any = None
        # True: the line items container ignores its query filters (some LMSs do).
        self.ignore_filters = False
        # "lti1p3platform": memberships are answered by that library's NRPS service
        # (LibraryMemberships) instead of the demo's own code.
        self.nrps_backend = "demo"
        # Every service request (method, URL with its query) the tools made, for tests.
        self.service_requests: list[tuple[str, str]] = []
        self.down = False  # True: the LMS's services answer 503, as during an outage
        # True: like Moodle, each launch's return URL carries the user's own session key
        # (sesskey, Moodle's CSRF token), which must never reach anyone else.
        self.sesskey_in_return_url = False
        self.sesskeys: dict[str, str] = {}
        # The LMS's cached copy of the tool's public keys, fetched from the tool's JWKS URL
        # when missing (None: first use, after a purge) or when it no longer verifies the
        # tool's assertion (after the tool rotated its key), as Moodle does. Tests may hand
        # a copy over instead.
        self.tool_jwks: dict[str, Any] | None = None
        self.tool_jwks_fetches = 0
        # Deep linking (scripts/demo_lms/deeplink.py): links course editors added with the
        # tool's content picker (course -> link id -> DemoLink), and pending requests by
        # their `data` (-> user id, course).
        self.added_links: dict[str, dict[str, Any]] = {}
        self.deep_link_requests: dict[str, tuple[str, str]] = {}
        # True: login initiation offers the LMS page's storage (lti_storage_target), and
        # the course page answers the tool's postMessages (scripts/demo_lms/storage.py).
        self.platform_storage = False
        self.rotate_key()

    # -- keys ------------------------------------------------------------------------------------
    def rotate_key(self) -> str:
        """A new signing key (an LMS that rotates keys, as some do hourly)."""
        with self._lock:
            self.kid = "demo-" + secrets.token_hex(8)
            self.private_key_pem = new_rsa_key()
            self.jwks = {"keys": [public_jwk(self.private_key_pem, self.kid)]}
        return self.kid

    # -- the URLs an administrator registers with the tool ------------------------------------
    @property
    def auth_login_url(self) -> str:
        return self.issuer + "/auth"

    @property
    def auth_token_url(self) -> str:
        return self.issuer + "/token"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks"

    def registration(self) -> Registration:
        reg = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_launch_url(self.tool_launch_url)
            .set_oidc_login_url(self.tool_login_url)
            .set_tool_key_set_url(self.tool_jwks_url)
            .set_platform_private_key(self.private_key_pem)
            .set_platform_public_key(self.public_key_pem)
        )
        if self.tool_jwks is not None:
            reg.set_tool_key_set(self.tool_jwks)  # type: ignore[arg-type]
        return reg

    def fetch_tool_jwks(self) -> dict[str, Any]:
        """GET the tool's JWKS, synchronously, from inside the token request (as Moodle)."""
        self.tool_jwks_fetches += 1
        response = requests.get(self.tool_jwks_url, timeout=5)
        response.raise_for_status()
        keys: dict[str, Any] = response.json()
        self.tool_jwks = keys
        return keys

    def access_token(self, form: dict[str, str]) -> dict[str, Any]:
        """The token endpoint: check the tool's signed client assertion with the cached
        copy of its keys, fetching them first when missing, and again once if they fail."""
        fetched = False
        if self.tool_jwks is None:
            self.fetch_tool_jwks()
            fetched = True
        try:
            return self.conf().get_access_token(form)  # type: ignore[no-any-return]
        except Exception:
            if fetched:
                raise
        self.fetch_tool_jwks()
        return self.conf().get_access_token(form)  # type: ignore[no-any-return]

    def conf(self) -> LTI1P3PlatformConfAbstract:
        conf = _Conf(registration=self.registration())
        conf.get_registration()
        return conf

    @property
    def public_key_pem(self) -> str:
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def memberships_url(self, context_id: str) -> str:
        return f"{self.issuer}/api/courses/{context_id}/memberships"

    def links_of(self, context_id: str) -> dict[str, set[str] | None]:
        course = self.courses[context_id]
        # Links added with the content picker (deep linking) are open to the whole course.
        added = dict.fromkeys(self.added_links.get(context_id, {}))
        return {course.resource_link_id: None, **added, **self.links.get(context_id, {})}

    def members(self, context_id: str, rlid: str | None = None) -> list[dict[str, Any]]:
        """The course's members, as Names and Role Provisioning describes them; with `rlid`,
        those who can see that resource link (BadServiceRequest if it is not in the course,
        as NRPS 2.0 says a platform must deny it)."""
        enrolled = self.enrolled.get(context_id)
        audience = None
        if rlid is not None:
            links = self.links_of(context_id)
            if rlid not in links:
                raise BadServiceRequest("rlid is not a resource link of this course")
            audience = links[rlid]
        return [
            {
                "status": Status.ACTIVE.value,
                "user_id": p.user_id,
                "name": p.name,
                "given_name": p.given_name,
                "family_name": p.family_name,
                "email": p.email,
                "roles": p.roles,
                **({"lis_person_sourcedid": p.sourcedid} if p.sourcedid else {}),
            }
            for p in self.people.values()
            if (enrolled is None or p.user_id in enrolled)
            and (audience is None or p.user_id in audience)
        ]

    def add_course(self, course: DemoCourse, enrolled: set[str] | None = None) -> None:
        with self._lock:
            self.courses[course.context_id] = course
            self.lineitems.setdefault(course.context_id, [])
            if enrolled is not None:
                self.enrolled[course.context_id] = set(enrolled)

    def remove_course(self, context_id: str) -> None:
        with self._lock:
            self.courses.pop(context_id, None)
            self.lineitems.pop(context_id, None)
            self.enrolled.pop(context_id, None)

    def return_url(self, person: DemoPerson, course: DemoCourse) -> str:
        if not self.sesskey_in_return_url:
            return self.issuer + "/"
        sesskey = self.sesskeys.setdefault(person.user_id, secrets.token_hex(5))
        return with_query(
            self.issuer + "/mod/lti/return.php",
            {"course": course.context_id, "launch_container": "3", "sesskey": sesskey},
        )

    def gradable(self, user_id: str) -> bool:
        """Whether the course's gradebook takes this user's score: learners only, as in
        Moodle (a teacher's or an administrator's score is refused with HTTP 400)."""
        person = self.people.get(user_id)
        return person is not None and ROLE_LEARNER in person.roles

    def lineitems_url(self, context_id: str) -> str:
        return f"{self.issuer}/api/courses/{context_id}/lineitems"

    def create_lineitem(self, context_id: str, item: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            items = self.lineitems[context_id]
            number = 1 + max((int(i["id"].rsplit("/", 1)[1]) for i in items), default=0)
            created = {**item, "id": f"{self.lineitems_url(context_id)}/{number}"}
            items.append(created)
            return created

    def find_lineitem(self, context_id: str, number: int) -> dict[str, Any] | None:
        wanted = f"{self.lineitems_url(context_id)}/{number}"
        return next((i for i in self.lineitems.get(context_id, []) if i["id"] == wanted), None)

    def delete_lineitem(self, context_id: str, number: int) -> bool:
        with self._lock:
            item = self.find_lineitem(context_id, number)
            if item is not None:
                self.lineitems[context_id].remove(item)
            return item is not None

    # -- step 1: third-party initiated login ----------------------------------------------------
    def login_initiation_url(
        self, user_id: str, context_id: str, link_id: str | None = None
    ) -> str:
        course = self.courses[context_id]
        conf = _Conf(registration=self.registration())
        login = _Login(_PlainRequest({}), conf)
        login.set_lti_message_hint(hint=f"{context_id}|{link_id or course.resource_link_id}")
        url: str = login.initiate_login(user_id)
        if self.platform_storage:
            url = with_query(url, {"lti_storage_target": STORAGE_TARGET})
        return url

    def login_params(self, user_id: str, context_id: str) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.login_initiation_url(user_id, context_id)).query))

    # -- step 2: the tool sends the browser to our auth endpoint ---------------------------------
    def check_auth_request(self, query: dict[str, str]) -> tuple[DemoPerson, DemoCourse]:
        expected = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
        }
        for key, value in expected.items():
            if query.get(key) != value:
                raise AuthError(f"{key} must be {value!r}")
        if query.get("client_id") != self.client_id:
            raise AuthError("unknown client_id")
        if query.get("redirect_uri") != self.tool_launch_url:
            raise AuthError("redirect_uri is not the registered launch URL")
        if not query.get("nonce") or not query.get("state"):
            raise AuthError("nonce and state are required")
        person = self.people.get(query.get("login_hint", ""))
        if person is None:
            raise AuthError("unknown login_hint")
        context_id, _, link_id = (query.get("lti_message_hint") or "").partition("|")
        course = self.courses.get(context_id)
        added = self.added_links.get(context_id, {}).get(link_id)
        if course is not None and added is not None:
            # A link added by deep linking: the course, seen through that link.
            return person, replace(
                course, resource_link_id=link_id, resource_link_title=added.title
            )
        if course is None or course.resource_link_id != link_id:
            raise AuthError("unknown lti_message_hint")
        return person, course

    def launch_message(self, person: DemoPerson, course: DemoCourse, nonce: str) -> dict[str, Any]:
        """The id_token's claims, built by lti1p3platform as for any resource link launch."""
        conf = _Conf(registration=self.registration())
        launch = _Launch(_PlainRequest({}), conf)
        launch._registration = conf.get_registration()
        launch.set_user_data(person.user_id, person.roles, person.name, person.email)
        launch.lti_claim_user_data = dict(
            launch.lti_claim_user_data or {},
            given_name=person.given_name,
            family_name=person.family_name,
        )
        launch.set_resource_link_claim(course.resource_link_id, title=course.resource_link_title)
        launch.set_launch_context_claim(
            course.context_id,
            context_types=[LIS + "course#CourseOffering"],
            context_title=course.title,
            context_label=course.label,
        )
        launch.set_launch_presentation_claim(
            document_target="iframe", return_url=self.return_url(person, course)
        )
        lineitem = None
        added = self.added_links.get(course.context_id, {}).get(course.resource_link_id)
        if added is not None:
            lineitem = added.lineitem  # the one made from the tool's deep linking answer
        elif self.offer_lineitem:
            existing = [
                i
                for i in self.lineitems[course.context_id]
                if i.get("resourceLinkId") == course.resource_link_id
            ]
            lineitem = (
                existing[0]
                if existing
                else self.create_lineitem(
                    course.context_id,
                    {
                        "label": course.resource_link_title,
                        "scoreMaximum": 100,
                        "resourceLinkId": course.resource_link_id,
                    },
                )
            )["id"]
        launch.set_ags(
            self.lineitems_url(course.context_id),
            lineitem_url=lineitem,
            allow_creating_lineitems=True,
        )
        launch.set_nrps(self.memberships_url(course.context_id))
        custom = {**(added.custom if added is not None else {}), **person.custom}
        if custom:
            launch.set_custom_parameters_claim(custom)
        message = launch.get_launch_message()
        if person.sourcedid:  # as Moodle sends a user's "ID number"
            message["https://purl.imsglobal.org/spec/lti/claim/lis"] = {
                "person_sourcedid": person.sourcedid
            }
        message["nonce"] = nonce
        return message

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key_pem: str | None = None,
        kid: str | None = None,
        expires_in: int | None = 300,
        headers: dict[str, Any] | None = None,
    ) -> str:
        payload = dict(claims)
        if expires_in is not None:
            now = int(time.time())
            payload.setdefault("iat", now)
            payload.setdefault("exp", now + expires_in)
        return Registration.encode_and_sign(
            payload,
            key_pem or self.private_key_pem,
            headers={"kid": kid or self.kid, **(headers or {})},
        )

    def authorize(self, query: dict[str, str]) -> dict[str, str]:
        """Answer a valid auth request: where to post, and the signed id_token and state."""
        from scripts.demo_lms import deeplink

        if deeplink.is_deep_link(query):
            return deeplink.authorize(self, query)
        person, course = self.check_auth_request(query)
        token = self.sign(self.launch_message(person, course, query["nonce"]))
        return {"action": query["redirect_uri"], "id_token": token, "state": query["state"]}

    def register_command(self, organisation: str) -> list[str]:
        """The tool's CLI arguments that register this platform."""
        return [
            "lti",
            "add-platform",
            "--issuer",
            self.issuer,
            "--client-id",
            self.client_id,
            "--deployment-id",
            self.deployment_id,
            "--auth-login-url",
            self.auth_login_url,
            "--auth-token-url",
            self.auth_token_url,
            "--jwks-url",
            self.jwks_url,
            "--org",
            organisation,
        ]


def default_courses() -> list[DemoCourse]:
    return [
        DemoCourse(
            context_id="cp-2026",
            title="Mandatory: Corporate Parenting (2026)",
            label="CP2026",
            resource_link_id="cp-module",
            resource_link_title="Corporate Parenting Policy",
        )
    ]


def default_people() -> list[DemoPerson]:
    domain = "demo-council.example"
    return [
        DemoPerson(
            "u-aisha",
            "Aisha Khan",
            "Aisha",
            "Khan",
            f"aisha.khan@{domain}",
            [ROLE_LEARNER, ROLE_STAFF],
            "Housing officer: a learner",
            sourcedid="E1001",
        ),
        DemoPerson(
            "u-lee",
            "Lee Morgan",
            "Lee",
            "Morgan",
            f"lee.morgan@{domain}",
            [ROLE_LEARNER, ROLE_STAFF],
            "Planning officer: a learner in Tom's team",
            sourcedid="E1002",
        ),
        DemoPerson(
            "u-tom",
            "Tom Price",
            "Tom",
            "Price",
            f"tom.price@{domain}",
            [ROLE_INSTRUCTOR, ROLE_STAFF],
            "Housing team manager, with a small team",
            sourcedid="E1003",
        ),
        DemoPerson(
            "u-priya",
            "Priya Shah",
            "Priya",
            "Shah",
            f"priya.shah@{domain}",
            [ROLE_INST_ADMIN, ROLE_STAFF],
            "HR officer",
            sourcedid="E1004",
        ),
        DemoPerson(
            "u-jo",
            "Jo Evans",
            "Jo",
            "Evans",
            f"cllr.jo.evans@{domain}",
            [ROLE_LEARNER],
            "Elected member (councillor)",
            {"elected_member": "true"},
            sourcedid="E1009",
        ),
        DemoPerson(
            "u-sam",
            "Sam Wilson",
            "Sam",
            "Wilson",
            f"sam.wilson@{domain}",
            [ROLE_LEARNER, ROLE_STAFF],
            "Housing officer in Tom's team who has not opened the module",
            launches=False,
            sourcedid="E1005",
        ),
    ]


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)
