"""The module's own public pages: its accessibility statement and its privacy notice."""

from app.about.routes import bp

__all__ = ["bp"]
