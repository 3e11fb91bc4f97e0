"""Typed models, one module per concept. Importing this package registers every table."""

from app.models.acceptance import Acceptance
from app.models.audit import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification
from app.models.deep_link import DeepLinkRequest
from app.models.hr import ApiToken, Reminder, RosterUpload
from app.models.keys import ToolKey
from app.models.lms import CourseMember, Launch, LmsContext, LoginState
from app.models.organisation import CommitteeReportSent, Organisation, RoleMapping
from app.models.outbox import ScoreOutbox
from app.models.people import Person, Role
from app.models.platform import Deployment, PlatformRegistration
from app.models.policy import Audience, Policy, PolicySection, PolicyVersion, SectionRead
from app.models.quiz import QuizAttempt, QuizBank, QuizDraft, QuizExtension, QuizSubmission
from app.models.registration import RegistrationAttempt, RegistrationInvite

__all__ = [
    "Acceptance",
    "ApiToken",
    "Audience",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuditVerification",
    "CommitteeReportSent",
    "CourseMember",
    "DeepLinkRequest",
    "Deployment",
    "Launch",
    "LmsContext",
    "LoginState",
    "Organisation",
    "Person",
    "PlatformRegistration",
    "Policy",
    "PolicySection",
    "PolicyVersion",
    "QuizAttempt",
    "QuizBank",
    "QuizDraft",
    "QuizExtension",
    "QuizSubmission",
    "RegistrationAttempt",
    "RegistrationInvite",
    "Reminder",
    "Role",
    "RoleMapping",
    "RosterUpload",
    "ScoreOutbox",
    "SectionRead",
    "ToolKey",
]
