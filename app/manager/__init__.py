"""Managers' pages: their team's progress, and reminders to those who have not finished."""

from app.manager.routes import bp

__all__ = ["bp"]
