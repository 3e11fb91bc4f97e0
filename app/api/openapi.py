"""The API's OpenAPI 3.1 description, built from the same column set and filters it serves."""

from __future__ import annotations

from typing import Any

from app.services.exports import COLUMN_TYPES, FILTER_PARAMS, STATES
from app.services.reports import COLUMNS, HEADINGS

MAX_PER_PAGE = 1000
# Far past any council's workforce; keeps the row offset within the database's 64-bit integers.
MAX_PAGE = 1_000_000
DEFAULT_PER_PAGE = 100
DEFAULT_RATE_LIMIT = "60 per minute"

_NULLABLE: dict[str, dict[str, Any]] = {
    "text": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "date": {"type": ["string", "null"], "format": "date"},
    "datetime": {"type": ["string", "null"], "format": "date-time"},
}


def _person_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "person_id": {"type": "integer", "description": "The tool's own id for the person."}
    }
    for column in COLUMNS:
        kind = COLUMN_TYPES.get(column, "text")
        properties[column] = {**_NULLABLE[kind], "title": HEADINGS[column]}
    properties["status"]["description"] = "The status as HR reads it (see state for the code)."
    properties["accepted_at_utc"]["description"] = "UTC, e.g. 2026-11-28T10:15:00Z."
    properties["last_reminder"]["description"] = "UTC time of the last reminder sent."
    properties["elected_member"]["description"] = "Yes or No."
    properties["state"] = {"type": "string", "enum": STATES, "description": "The status code."}
    properties["overdue"] = {
        "type": "boolean",
        "description": "Past the due date and not completed.",
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


# Text as the database keeps it: anything but NUL (which PostgreSQL cannot store).
_TEXT: dict[str, Any] = {"type": "string", "pattern": "^[^\\x00]*$"}

# HR's export form sends an empty date for "any": the API reads it the same way.
_DATE_OR_EMPTY: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]
}


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


_PARAMETERS: dict[str, Any] = {
    "org_id": {
        "name": "org_id",
        "in": "path",
        "required": True,
        "description": "Your organisation's id, shown on HR's API tokens page.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "status": _query(
        "status",
        "Only people in these states; repeat the parameter or separate with commas.",
        {"type": "array", "items": {"type": "string", "enum": STATES}},
        style="form",
        explode=True,
    ),
    "directorate": _query("directorate", "Only this directorate (exact).", _TEXT),
    "department": _query("department", "Only this department (exact).", _TEXT),
    "manager": _query(
        "manager",
        "Only the team of this manager of record: their e-mail address or employee ID.",
        _TEXT,
    ),
    "overdue_only": _query(
        "overdue_only", "Only people past their due date.", {"type": "boolean", "default": False}
    ),
    "accepted_from": _query(
        "accepted_from",
        "Only acceptances on or after this day (UK time). Empty: no limit.",
        _DATE_OR_EMPTY,
    ),
    "accepted_to": _query(
        "accepted_to",
        "Only acceptances on or before this day (UK time), not before accepted_from. "
        "Empty: no limit.",
        _DATE_OR_EMPTY,
    ),
    "include_leavers": _query(
        "include_leavers",
        "Include people who have left (by default only current staff and members).",
        {"type": "boolean", "default": False},
    ),
    "page": _query(
        "page",
        "The page, from 1.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    ),
    "per_page": _query(
        "per_page",
        "Rows per page.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
    ),
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("schemas", "Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


# Every answer an endpoint may give besides its 200 (405 belongs to no operation: a method
# not listed here is answered 405 with Allow).
_ERRORS = {
    "400": _ref("responses", "BadRequest"),
    "401": _ref("responses", "Unauthorized"),
    "403": _ref("responses", "Forbidden"),
    "404": _ref("responses", "NotFound"),
    "409": _ref("responses", "NoPolicy"),
    "413": _ref("responses", "TooLarge"),
    "429": _ref("responses", "TooManyRequests"),
    "503": _ref("responses", "Unavailable"),
}


def document(
    server_url: str, rate_limit: str = DEFAULT_RATE_LIMIT, shared_count: bool = False
) -> dict[str, Any]:
    counted = (
        "counted in one store that every application process shares"
        if shared_count
        else "counted in memory by each application process (so several processes each "
        "allow that many)"
    )
    parameters = [_ref("parameters", "org_id"), *(_ref("parameters", f) for f in FILTER_PARAMS)]
    paging = [_ref("parameters", "page"), _ref("parameters", "per_page")]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Corporate Parenting module: people and statuses",
            "version": "1.0.0",
            "description": (
                "Everyone who must complete the Corporate Parenting module in one "
                "organisation, with their status: the same table and filters as HR's "
                "exports.\n\n"
                "Authentication: a token made by HR on the API tokens page, sent as "
                "`Authorization: Bearer <token>`. A token reads its own organisation only.\n\n"
                f"Rate limit: {rate_limit} per token, {counted}. Over the limit the "
                "answer is 429 with Retry-After (seconds). X-RateLimit-Limit, "
                "X-RateLimit-Remaining and X-RateLimit-Reset (Unix time) come with each "
                "answer.\n\n"
                "CSV cells that a spreadsheet would run as a formula (starting with = + - @, "
                "tab, carriage return or line feed) start with a ' added; JSON values are as "
                "recorded."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/organisations/{org_id}/people": {
                "get": {
                    "operationId": "listPeople",
                    "summary": "People and statuses, a page at a time (JSON)",
                    "parameters": parameters + paging,
                    "responses": {
                        "200": {
                            "description": "One page of people, in a stable order.",
                            "content": {
                                "application/json": {"schema": _ref("schemas", "PeoplePage")}
                            },
                        },
                        **_ERRORS,
                    },
                }
            },
            "/organisations/{org_id}/people.csv": {
                "get": {
                    "operationId": "exportPeopleCsv",
                    "summary": "People and statuses as CSV (every row, or a page)",
                    "description": (
                        "Without page or per_page: every row. The header row is the column "
                        "headings (Employee ID, First name...), in the documented order. "
                        "UTF-8 with a byte-order mark."
                    ),
                    "parameters": parameters + paging,
                    "responses": {
                        "200": {
                            "description": "The table as CSV.",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                            "headers": {
                                "X-Total-Count": {
                                    "description": "Rows matching the filters (all pages).",
                                    "schema": {"type": "integer"},
                                }
                            },
                        },
                        **_ERRORS,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "413": _ref("responses", "TooLarge"),
                        "429": _ref("responses", "TooManyRequests"),
                        "503": _ref("responses", "Unavailable"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from HR's API tokens page (cpm_...).",
                }
            },
            "parameters": _PARAMETERS,
            "schemas": {
                "Person": _person_schema(),
                "PeoplePage": {
                    "type": "object",
                    "required": ["data", "page", "per_page", "total", "next"],
                    "properties": {
                        "data": {"type": "array", "items": _ref("schemas", "Person")},
                        "page": {"type": "integer"},
                        "per_page": {"type": "integer"},
                        "total": {"type": "integer", "description": "Rows on all pages."},
                        "next": {
                            "type": ["string", "null"],
                            "format": "uri",
                            "description": "The next page's URL; null on the last page.",
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "status"],
                    "properties": {
                        "error": {"type": "string"},
                        "status": {"type": "integer"},
                        "message": {"type": "string"},
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "What is wrong with each query parameter.",
                        },
                    },
                },
            },
            "responses": {
                "BadRequest": _error(
                    "A query parameter is not valid: unknown, malformed, naming a manager "
                    "nobody in the organisation is, or accepted_to before accepted_from. "
                    "fields says which and why."
                ),
                "Unauthorized": _error(
                    "No token, or an unknown or revoked one.",
                    {"WWW-Authenticate": {"schema": {"type": "string"}}},
                ),
                "Forbidden": _error("The token belongs to another organisation."),
                "NotFound": _error(
                    "No such address: an org_id that cannot be an organisation's (such as a "
                    "negative number), or a path not described here."
                ),
                "NoPolicy": _error("No version of the policy is in force yet."),
                "TooLarge": _error(
                    "The request carried a body over the size limit (the API reads none)."
                ),
                "Unavailable": _error(
                    "The service cannot reach its database for the moment.",
                    {
                        "Retry-After": {
                            "description": "Seconds to wait before trying again.",
                            "schema": {"type": "integer"},
                        }
                    },
                ),
                "TooManyRequests": _error(
                    "Over the rate limit.",
                    {
                        "Retry-After": {
                            "description": "Seconds to wait.",
                            "schema": {"type": "integer"},
                        }
                    },
                ),
            },
        },
    }
