"""Every way a launch can be refused: a code for logs and tests, a status, and plain words."""

from __future__ import annotations

from collections.abc import Callable

# Told of each refusal as it is made (app/metrics.py sets it when metrics are on, to count
# refusals by code). Nothing else reads it; None costs a launch nothing.
observer: Callable[[LaunchError], None] | None = None


class LaunchError(Exception):
    status = 400
    code = "bad_request"
    title = "The module could not be opened"
    message = "The learning portal sent a request the module could not accept."
    # What an LMS administrator should check; shown on the page, safe to show.
    admin_hint: str = ""

    def __init__(self, detail: str = "", **facts: str | None) -> None:
        super().__init__(detail or self.message)
        self.detail = detail
        self.facts = {k: v for k, v in facts.items() if v}
        if observer is not None:
            observer(self)

    @property
    def admin_hint_parts(self) -> list[tuple[str, bool]]:
        """The hint as (text, is_code) pieces: a `command` in it is shown as code, and
        every piece stays text for the template to escape."""
        pieces = self.admin_hint.split("`")
        return [(text, i % 2 == 1) for i, text in enumerate(pieces) if text]


class MalformedRequest(LaunchError):
    code = "malformed_request"
    message = "The request from the learning portal was incomplete or not in the expected format."


class MalformedToken(LaunchError):
    code = "malformed_jwt"
    message = "What the learning portal sent to open the module was not in a form it can read."


class MissingClaim(LaunchError):
    code = "missing_claim"
    message = "The learning portal did not send everything the module needs, such as who you are."
    admin_hint = "Check the tool's privacy settings in the LMS: the tool needs the user's identity."


class UnsupportedMessage(LaunchError):
    code = "unsupported_message_type"
    message = "The learning portal asked for something this module does not offer."


class ForeignServiceUrl(LaunchError):
    # The tool would call this URL with the platform's token: one on another origin could
    # point it at any host the tool's server can reach (SSRF), so it is never fetched.
    code = "foreign_service_url"
    message = "The learning portal named a place for scores or class lists that is not part of it."
    admin_hint = (
        "Service URLs (AGS line items, NRPS memberships) must be on the origin of the platform's"
        " login, token or JWKS URL; add another with `flask --app app lti add-platform"
        " --service-origin`."
    )


class UnknownIssuer(LaunchError):
    status = 403
    code = "unknown_issuer"
    message = "This learning portal is not set up to open the module."
    admin_hint = "Register the platform with `flask --app app lti add-platform`."


class UnknownClient(LaunchError):
    status = 403
    code = "unknown_client_id"
    message = "This learning portal's set-up for the module is not recognised."
    admin_hint = "Check the client ID the LMS shows against `flask --app app lti list-platforms`."


class UnknownDeployment(LaunchError):
    status = 403
    code = "unknown_deployment"
    message = "This copy of the module in the learning portal is not recognised."
    admin_hint = "Add the deployment ID with `flask --app app lti add-platform --deployment-id`."


class BadSignature(LaunchError):
    status = 401
    code = "bad_signature"
    message = "The module could not check that the request came from your learning portal."


class UnknownKey(LaunchError):
    status = 401
    code = "unknown_kid"
    message = "The module could not check that the request came from your learning portal."
    admin_hint = "Check the platform's JWKS URL in `flask --app app lti list-platforms`."


class Expired(LaunchError):
    status = 401
    code = "expired"
    title = "This link to the module has expired"
    message = "Opening the module took too long. Go back to your learning portal and try again."


class NotYetValid(LaunchError):
    status = 401
    code = "iat_in_future"
    message = "The request from the learning portal is dated in the future."
    admin_hint = "The LMS server's clock is ahead of the tool's; check both use NTP."


class Replayed(LaunchError):
    status = 401
    code = "replayed"
    title = "This link to the module has already been used"
    message = (
        "Each link can be used once. Go back to your learning portal and open the module again."
    )


class BadState(LaunchError):
    status = 401
    code = "bad_state"
    title = "The module could not finish signing you in"
    message = (
        "Signing in did not come back to the browser window that started it, or it took too long."
        " Go back to your learning portal and open the module again."
    )


class JwksUnavailable(LaunchError):
    # 424 Failed Dependency: the request was fine, the platform's key set was not reachable.
    status = 424
    code = "jwks_unreachable"
    message = (
        "The module could not reach your learning portal to check who you are."
        " Try again in a few minutes."
    )
    admin_hint = "The platform's JWKS URL did not answer with a key set."
