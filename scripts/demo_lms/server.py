"""The demo LMS's web pages: "launch as" buttons, the OIDC auth endpoint and the JWKS."""

from __future__ import annotations

from html import escape
from typing import Any

import jwt
from flask import Flask, Response, jsonify, request

from scripts.demo_lms import deeplink
from scripts.demo_lms.platform import (
    LINEITEM_TYPE,
    AuthError,
    BadServiceRequest,
    DemoPlatform,
    LibraryMemberships,
    ServiceRequest,
    check_lineitem,
    check_score,
    with_query,
)
from scripts.demo_lms.storage import storage_script

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Demo LMS</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 0; color: #0b0c0c; }}
 header {{ background: #4c2c92; color: #fff; padding: .75rem 1rem; }}
 main {{ padding: 1rem; max-width: 70rem; }}
 table {{ border-collapse: collapse; }} td, th {{ text-align: left; padding: .4rem .6rem;
 border-bottom: 1px solid #b1b4b6; }}
 a {{ color: #1d70b8; }} a:focus {{ outline: 3px solid #fd0; background: #fd0; color: #0b0c0c; }}
 iframe {{ width: 100%; height: 80vh; border: 1px solid #b1b4b6; }}
</style></head><body><header><strong>Demo LMS</strong> (an LTI 1.3 platform for trying the tool)
</header><main>{body}</main></body></html>"""


def create_platform_app(platform: DemoPlatform) -> Flask:
    app = Flask("demo_lms")
    app.extensions["demo_platform"] = platform

    @app.get("/")
    def home() -> str:
        rows = []
        for course in platform.courses.values():
            for person in (p for p in platform.people.values() if p.launches):
                start = f"/start/{escape(person.user_id)}/{escape(course.context_id)}"
                rows.append(
                    f"<tr><td>{escape(person.name)}</td><td>{escape(person.description)}</td>"
                    f'<td><a href="/course/{escape(course.context_id)}/{escape(person.user_id)}">'
                    f"Launch as {escape(person.given_name)} (in the course page)</a></td>"
                    f'<td><a href="{start}" target="_blank" rel="opener">'
                    f"Launch as {escape(person.given_name)} (new window)</a></td></tr>"
                )
        for course in platform.courses.values():
            for link in platform.added_links.get(course.context_id, {}).values():
                for person in (p for p in platform.people.values() if p.launches):
                    href = f"/course/{escape(course.context_id)}/{escape(person.user_id)}"
                    rows.append(
                        f"<tr><td>{escape(person.name)}</td><td>{escape(link.title)}</td>"
                        f"<td colspan='2'><a href='{href}?link={escape(link.link_id)}'>"
                        f"Open {escape(link.title)} as {escape(person.given_name)}</a></td></tr>"
                    )
        first = next(iter(platform.courses.values()))
        select = f"/course/{escape(first.context_id)}/u-tom/select"
        body = (
            f"<h1>{escape(first.title)}</h1>"
            f"<p><a href='{select}'>Add an activity: select content (as Tom, a teacher)</a></p>"
            "<p>Choose someone to be. The launch goes through the real LTI 1.3 flow: "
            "the tool's OIDC login, this platform's signed id_token, the tool's launch.</p>"
            "<table><thead><tr><th>Person</th><th>Who they are</th><th colspan='2'>Launch</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
        return PAGE.format(title="Course", body=body)

    @app.get("/course/<context_id>/<user_id>")
    def course_page(context_id: str, user_id: str) -> tuple[str, int] | str:
        person = platform.people.get(user_id)
        course = platform.courses.get(context_id)
        if person is None or course is None:
            return PAGE.format(title="Not found", body="<h1>Not found</h1>"), 404
        src = f"/start/{escape(user_id)}/{escape(context_id)}"
        title = course.resource_link_title
        added = platform.added_links.get(context_id, {}).get(request.args.get("link", ""))
        if added is not None:  # an activity a course editor added (deep linking)
            src += f"?link={escape(added.link_id)}"
            title = added.title
        body = (
            f"<p><a href='/'>Back to the course</a></p><h1>{escape(title)}"
            f"</h1><p>Signed in to the LMS as {escape(person.name)}.</p>"
            f"<iframe src='{src}' title='{escape(title)}' "
            "allow='fullscreen'></iframe>"
        )
        if platform.platform_storage:
            body += storage_script(platform.tool_launch_url)
        return PAGE.format(title=course.resource_link_title, body=body)

    @app.get("/start/<user_id>/<context_id>")
    def start(user_id: str, context_id: str) -> Response | tuple[str, int]:
        if user_id not in platform.people or context_id not in platform.courses:
            return PAGE.format(title="Not found", body="<h1>Not found</h1>"), 404
        response = Response(status=302)
        link = request.args.get("link")
        if link is not None and link not in platform.added_links.get(context_id, {}):
            return PAGE.format(title="Not found", body="<h1>Not found</h1>"), 404
        response.headers["Location"] = platform.login_initiation_url(user_id, context_id, link)
        return response

    @app.get("/auth")
    def auth() -> tuple[str, int] | str:
        try:
            form = platform.authorize(request.args.to_dict())
        except AuthError as exc:
            return PAGE.format(
                title="Launch refused", body=f"<h1>Launch refused</h1><p>{escape(str(exc))}</p>"
            ), 400
        # The auto-submitting form_post of OIDC's response_mode=form_post.
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Launching"
            "</title></head><body>"
            f"<form method='post' action='{escape(form['action'])}' id='launch'>"
            f"<input type='hidden' name='id_token' value='{escape(form['id_token'])}'>"
            f"<input type='hidden' name='state' value='{escape(form['state'])}'>"
            "<noscript><button type='submit'>Continue to the tool</button></noscript></form>"
            "<script>document.getElementById('launch').submit();</script></body></html>"
        )

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify(platform.jwks)

    # -- LTI Advantage services ------------------------------------------------------------
    def _unavailable() -> tuple[Response, int] | None:
        if platform.down:
            return jsonify(error="The LMS is down for maintenance"), 503
        return None

    def _authorised(scopes: list[str]) -> bool:
        header = request.headers.get("Authorization", "").split()
        if len(header) != 2 or header[0].lower() != "bearer":
            return False
        try:
            return bool(platform.conf().validate_token(header[1], allowed_scopes=scopes))
        except Exception:  # any invalid token is simply not authorised
            return False

    @app.post("/token")
    def token() -> Any:
        if (down := _unavailable()) is not None:
            return down
        try:
            return jsonify(platform.access_token(request.form.to_dict()))
        except Exception as exc:  # lti1p3platform raises several kinds: all are a 400 here
            return jsonify(error="invalid_client", error_description=str(exc)), 400

    def _page(items: list[Any], base: str, args: dict[str, str]) -> tuple[list[Any], str | None]:
        """One page of `items` as the query's `limit` and `page` ask (limit is capped at
        100, as LMSs cap it), and the URL of the next page, with the same filters."""
        try:
            limit = max(1, min(int(args.get("limit", 3)), 100))
            page = max(1, int(args.get("page", 1)))
        except ValueError as exc:
            raise BadServiceRequest("limit and page are whole numbers") from exc
        chunk = items[(page - 1) * limit : page * limit]
        if page * limit >= len(items):
            return chunk, None
        return chunk, with_query(base, {**args, "page": str(page + 1), "limit": str(limit)})

    def _log() -> None:
        """Note an authorised service request (what the tool asked for, not its retries)."""
        platform.service_requests.append((request.method, request.url))

    @app.route("/api/courses/<context_id>/lineitems", methods=["GET", "POST"])
    def lineitems(context_id: str) -> Any:
        """AGS 2.0 line items container: GET with the resource_link_id, resource_id and tag
        filters, a page at a time; POST a new line item, checked as the spec says."""
        if (down := _unavailable()) is not None:
            return down
        if context_id not in platform.lineitems:
            return jsonify(error="no such course"), 404
        if not _authorised([AGS + "lineitem", AGS + "lineitem.readonly"]):
            return jsonify(error="not authorised"), 401
        _log()
        try:
            if request.method == "POST":
                if not _authorised([AGS + "lineitem"]):
                    return jsonify(error="not authorised"), 401
                item = request.get_json(force=True, silent=True)
                check_lineitem(request.content_type, item)
                if platform.before_create is not None:
                    platform.before_create()
                created = platform.create_lineitem(context_id, item)
                response = jsonify(created)
                response.mimetype = LINEITEM_TYPE
                return response, 201
            filters = {"resource_link_id": "resourceLinkId", "resource_id": "resourceId"}
            filters = {} if platform.ignore_filters else {**filters, "tag": "tag"}
            items = [
                i
                for i in platform.lineitems[context_id]
                if all(
                    i.get(key) == request.args[arg]
                    for arg, key in filters.items()
                    if arg in request.args
                )
            ]
            chunk, next_url = _page(
                items, platform.lineitems_url(context_id), request.args.to_dict()
            )
        except BadServiceRequest as exc:
            return jsonify(error="invalid_request", reason=str(exc)), 400
        response = jsonify(chunk)
        response.mimetype = "application/vnd.ims.lis.v2.lineitemcontainer+json"
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    @app.route("/api/courses/<context_id>/lineitems/<int:number>", methods=["GET", "DELETE"])
    def lineitem(context_id: str, number: int) -> Any:
        if (down := _unavailable()) is not None:
            return down
        item = platform.find_lineitem(context_id, number)
        if item is None:
            return jsonify(error="no such line item"), 404
        if request.method == "DELETE":
            if not _authorised([AGS + "lineitem"]):
                return jsonify(error="not authorised"), 401
            _log()
            platform.delete_lineitem(context_id, number)
            return Response(status=204)
        if not _authorised([AGS + "lineitem", AGS + "lineitem.readonly"]):
            return jsonify(error="not authorised"), 401
        response = jsonify(item)
        response.mimetype = LINEITEM_TYPE
        return response

    @app.get("/api/courses/<context_id>/memberships")
    def memberships(context_id: str) -> Any:
        """Names and Role Provisioning 2.0: the course's members (with `rlid`, those who can
        see that link), `limit` a page, the next page in a Link rel="next" header."""
        if (down := _unavailable()) is not None:
            return down
        if context_id not in platform.courses:
            return jsonify(error="no such course"), 404
        if platform.nrps_backend == "lti1p3platform":
            return _library_memberships(context_id)
        if not _authorised([NRPS_SCOPE]):
            return jsonify(error="not authorised"), 401
        _log()
        try:
            members = platform.members(context_id, request.args.get("rlid"))
            chunk, next_url = _page(
                members, platform.memberships_url(context_id), request.args.to_dict()
            )
        except BadServiceRequest as exc:
            return jsonify(error="invalid_request", reason=str(exc)), 400
        course = platform.courses[context_id]
        response = jsonify(
            {
                "id": request.url,
                "context": {"id": context_id, "label": course.label, "title": course.title},
                "members": chunk,
            }
        )
        response.mimetype = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
        if platform.misbehave == "endless":
            page = int(request.args.get("page", 1))
            next_url = with_query(platform.memberships_url(context_id), {"page": str(page + 1)})
        elif platform.misbehave == "same-page":
            next_url = request.url
        elif platform.misbehave == "foreign-next":
            next_url = "http://lms.attacker.example/memberships?page=2"
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _library_memberships(context_id: str) -> Any:
        """lti1p3platform's NRPS handler, adapted to HTTP: its `next` (a body field) becomes
        the Link rel="next" header NRPS 2.0 specifies."""
        query: dict[str, Any] = request.args.to_dict()
        try:
            for key in ("page", "limit"):
                if key in query:
                    query[key] = int(query[key])
        except ValueError:
            return jsonify(error="invalid_request", reason="page and limit are numbers"), 400
        service = LibraryMemberships(
            ServiceRequest("GET", query, dict(request.headers)), platform, context_id
        )
        try:
            answer = service.handle_resp(service.handle_get_members)
        except jwt.PyJWTError:  # its token check raises (not 401) on a token it cannot verify
            return jsonify(error="not authorised"), 401
        if answer.code != 200:
            return jsonify(error=answer.message), answer.code
        _log()
        body = dict(answer.result)
        next_url = body.pop("next", None)
        response = jsonify(body)
        response.mimetype = answer.media_type
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    @app.post("/api/courses/<context_id>/lineitems/<int:number>/scores")
    def scores(context_id: str, number: int) -> Any:
        if (down := _unavailable()) is not None:
            return down
        item = platform.find_lineitem(context_id, number)
        if item is None:
            return jsonify(error="no such line item"), 404
        if not _authorised([AGS + "score"]):
            return jsonify(error="not authorised"), 401
        _log()
        score = request.get_json(force=True, silent=True)
        try:
            check_score(request.content_type, score)
        except BadServiceRequest as exc:
            return jsonify(error="invalid_request", reason=str(exc)), 400
        if not platform.gradable(str(score.get("userId"))):
            # Moodle's answer for a user it does not grade here (its LtiServiceException).
            return jsonify(error="invalid_request", reason="Incorrect score received"), 400
        platform.scores.append({"lineitem": item["id"], **score})
        return jsonify({}), 200

    deeplink.add_routes(app, platform, PAGE)
    from scripts.demo_lms.dynreg import register_dynreg

    register_dynreg(app, platform, PAGE)  # Dynamic Registration: /admin/tools, /register
    return app
