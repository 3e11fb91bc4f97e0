"""services/about.py: which organisation's facts the public pages show, the defaults when
none is known, and which contacts become e-mail links."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.models import Organisation
from app.services.about import AboutFacts, Contact, about_facts, default_facts


def _add(session: Session, name: str, **values: object) -> Organisation:
    org = Organisation(name=name, **values)
    session.add(org)
    session.flush()
    return org


def test_with_no_organisation_the_defaults_are_the_columns_defaults(session: Session) -> None:
    assert about_facts(session, None) == AboutFacts(None, None, None, 6, 25)
    assert default_facts().retention_is_default is True


def test_the_only_organisation_is_used_without_a_visit(session: Session) -> None:
    _add(
        session,
        "Only Council",
        content_values={"data_protection_contact": "dpo@only.example"},
        retention_years=3,
        retention_years_childrens=50,
    )
    facts = about_facts(session, None)
    assert facts == AboutFacts(
        "Only Council",
        Contact("dpo@only.example"),
        Contact("the corporate parenting team"),  # the placeholder's default
        3,
        50,
    )
    assert facts.retention_is_default is False


def test_the_visits_organisation_wins_and_two_without_a_visit_mean_none(
    session: Session,
) -> None:
    first = _add(session, "First Council", retention_years=7)
    second = _add(session, "Second Council", retention_years=8)
    assert about_facts(session, second.id).organisation == "Second Council"
    assert about_facts(session, second.id).retention_years == 8
    assert about_facts(session, first.id).retention_years == 7
    assert about_facts(session, None) == default_facts()
    # A visit's organisation that no longer exists: as if there were no visit.
    assert about_facts(session, second.id + 1000) == default_facts()


def test_a_visits_vanished_organisation_falls_back_to_the_only_one(session: Session) -> None:
    only = _add(session, "Only Council")
    assert about_facts(session, only.id + 1000).organisation == "Only Council"


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("dpo@council.gov.uk", "dpo@council.gov.uk"),
        ("first.last+access@a-council.example", "first.last+access@a-council.example"),
        ("dpo@localhost", None),  # no dot in the domain
        ("dpo@council.gov.uk or 01632 960000", None),  # more than the address
        (" dpo@council.gov.uk", None),
        ("the council's data protection officer", None),
        ("javascript:alert(1)//@x.example", None),
        ('"><script>@x.example', None),
        ("dpo@@council.gov.uk", None),
        ("dpo@council..gov.uk", None),
        ("a?cc=x@example.org", None),  # would add a copy header to the mail
        ("a%3Fcc=x@example.org", None),
        ("a&b=c@example.org", None),
    ],
)
def test_only_a_contact_that_is_exactly_one_address_is_an_email(
    text: str, email: str | None
) -> None:
    assert Contact(text).email == email
