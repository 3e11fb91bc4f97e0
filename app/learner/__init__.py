"""The learner's pages: the module overview, sections, quiz and acceptance."""

from app.learner.routes import bp

__all__ = ["bp"]
