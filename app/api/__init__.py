"""The API for HR systems: token-authenticated JSON and CSV of one organisation's people."""

from app.api.routes import bp

__all__ = ["bp"]
