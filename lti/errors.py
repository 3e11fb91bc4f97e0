"""Every way a launch can be refused: a code for logs and tests, a status, and plain words."""

from __future__ import annotations


class LaunchError(Exception):
    status = 400
    code = "bad_request"
    title = "This launch could not be accepted"
    message = "The learning portal sent a launch the tool could not accept."
    # What an LMS administrator should check; shown on the page, safe to show.
    admin_hint: str = ""

    def __init__(self, detail: str = "", **facts: str | None) -> None:
        super().__init__(detail or self.message)
        self.detail = detail
        self.facts = {k: v for k, v in facts.items() if v}

    @property
    def admin_hint_parts(self) -> list[tuple[str, bool]]:
        """The hint as (text, is_code) pieces: a `command` in it is shown as code, and
        every piece stays text for the template to escape."""
        pieces = self.admin_hint.split("`")
        return [(text, i % 2 == 1) for i, text in enumerate(pieces) if text]


class MalformedRequest(LaunchError):
    code = "malformed_request"
    message = "The launch request was incomplete or not in the expected format."


class MalformedToken(LaunchError):
    code = "malformed_jwt"
    message = "The launch token sent by the learning portal is not a valid JSON Web Token."


class MissingClaim(LaunchError):
    code = "missing_claim"
    message = "The launch is missing information the tool needs."
    admin_hint = "Check the tool's privacy settings in the LMS: the tool needs the user's identity."


class UnsupportedMessage(LaunchError):
    code = "unsupported_message_type"
    message = "The learning portal asked for something this tool does not offer."


class ForeignServiceUrl(LaunchError):
    # The tool would call this URL with the platform's token: one on another origin could
    # point it at any host the tool's server can reach (SSRF), so it is never fetched.
    code = "foreign_service_url"
    message = "The launch named a grade or roster service that is not on the learning portal."
    admin_hint = (
        "Service URLs (AGS line items, NRPS memberships) must be on the origin of the platform's"
        " login, token or JWKS URL; add another with `flask --app app lti add-platform"
        " --service-origin`."
    )


class UnknownIssuer(LaunchError):
    status = 403
    code = "unknown_issuer"
    message = "This learning portal is not registered with the tool."
    admin_hint = "Register the platform with `flask --app app lti add-platform`."


class UnknownClient(LaunchError):
    status = 403
    code = "unknown_client_id"
    message = "This learning portal's client ID is not registered with the tool."
    admin_hint = "Check the client ID the LMS shows against `flask --app app lti list-platforms`."


class UnknownDeployment(LaunchError):
    status = 403
    code = "unknown_deployment"
    message = "This deployment of the tool is not registered."
    admin_hint = "Add the deployment ID with `flask --app app lti add-platform --deployment-id`."


class BadSignature(LaunchError):
    status = 401
    code = "bad_signature"
    message = "The launch token's signature could not be verified."


class UnknownKey(LaunchError):
    status = 401
    code = "unknown_kid"
    message = "The launch token was signed with a key the learning portal does not publish."
    admin_hint = "Check the platform's JWKS URL in `flask --app app lti list-platforms`."


class Expired(LaunchError):
    status = 401
    code = "expired"
    title = "This launch has expired"
    message = "The launch took too long to arrive. Go back to your learning portal and try again."


class NotYetValid(LaunchError):
    status = 401
    code = "iat_in_future"
    message = "The launch token is dated in the future."
    admin_hint = "The LMS server's clock is ahead of the tool's; check both use NTP."


class Replayed(LaunchError):
    status = 401
    code = "replayed"
    title = "This launch link has already been used"
    message = (
        "Each launch can be used once. Go back to your learning portal and open the module again."
    )


class BadState(LaunchError):
    status = 401
    code = "bad_state"
    title = "This launch could not be matched to its sign-in"
    message = (
        "The launch did not come back to the browser window that started it, or it took too long."
        " Go back to your learning portal and open the module again."
    )


class JwksUnavailable(LaunchError):
    # 424 Failed Dependency: the request was fine, the platform's key set was not reachable.
    status = 424
    code = "jwks_unreachable"
    message = (
        "The tool could not reach your learning portal to check this launch."
        " Try again in a few minutes."
    )
    admin_hint = "The platform's JWKS URL did not answer with a key set."
