"""The tool's log lines: text for people (the default), or with LOG_FORMAT=json one JSON
object per line for log collectors. gunicorn.conf.py gives gunicorn's own lines, the access
log included, the same form."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from flask import has_request_context, request

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# A proxy's request id (nginx: proxy_set_header X-Request-Id $request_id), so that the
# tool's lines can be joined with the proxy's. Anything else a client sends there is left out.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(value: str | None) -> str | None:
    return value if value and _REQUEST_ID.fullmatch(value) else None


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id (in a request that has one), exception; and a
    record's `fields` (a dict), which gunicorn's access lines carry."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if "request_id" not in entry and has_request_context():
            found = request_id(request.headers.get("X-Request-Id"))
            if found:
                entry["request_id"] = found
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str, log_format: str, app_logger: logging.Logger) -> None:
    """One line per event on stderr (gunicorn and the dev server both pass it through): the
    "cpm" loggers always; Flask's own logger too in JSON, where one plain line would break
    the collector's parsing."""
    logger = logging.getLogger("cpm")
    logger.setLevel(level)
    logger.propagate = False
    _own_handler(logger).setFormatter(formatter(log_format))
    if log_format == "json":
        from flask.logging import default_handler

        app_logger.removeHandler(default_handler)
        _own_handler(app_logger).setFormatter(JsonFormatter())
    else:
        for handler in [h for h in app_logger.handlers if getattr(h, "_cpm", False)]:
            app_logger.removeHandler(handler)


def _own_handler(logger: logging.Logger) -> logging.Handler:
    """The handler this module added to a logger (each app built in a process sets its format)."""
    for handler in logger.handlers:
        if getattr(handler, "_cpm", False):
            return handler
    handler = logging.StreamHandler()
    handler._cpm = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return handler
