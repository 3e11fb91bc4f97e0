"""Typed models, one module per concept. Importing this package registers every table."""

from app.models.keys import ToolKey
from app.models.lms import Launch, LmsContext, LoginState
from app.models.organisation import Organisation, RoleMapping
from app.models.people import Person, Role
from app.models.platform import Deployment, PlatformRegistration

__all__ = [
    "Deployment",
    "Launch",
    "LmsContext",
    "LoginState",
    "Organisation",
    "Person",
    "PlatformRegistration",
    "Role",
    "RoleMapping",
    "ToolKey",
]
