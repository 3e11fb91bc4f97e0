"""HR's pages: completion figures, people, exports, question statistics, verification."""

from app.hr import exports as _exports  # noqa: F401
from app.hr import identities as _identities  # noqa: F401  (the identities to review)
from app.hr import report as _report  # noqa: F401  (the committee report)
from app.hr import roster as _roster  # noqa: F401  (registers the roster pages)
from app.hr.routes import bp

__all__ = ["bp"]
