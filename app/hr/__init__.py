"""HR's pages: completion figures, people, exports, question statistics, verification."""

from app.hr.routes import bp

__all__ = ["bp"]
