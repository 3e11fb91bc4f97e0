"""Every form of the tool, posted with hypothesis-made values by someone allowed to use it.

Each example opens a page as a browser would, picks one of its forms, fills it with values
from hostile text to the page's own choices (with the page's valid CSRF token, extra
fields, repeated fields, huge values within the size limit), posts it, and sometimes goes
on to a form the answer shows (a declaration's confirmation, a new window's button). The
tool must never answer 5xx, must show nothing from outside unescaped (in the answer and in
the pages that show what was stored), and a form shown again with 400 carries the GOV.UK
error summary. Without its CSRF token, every form is refused and nothing is written.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from app.db import Base, db
from app.models import Organisation, Person
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import tool_client
from tests.fuzz.forms import Field, Form, forms_on
from tests.fuzz.hostile import SCRIPT, assert_answer_is_safe, fuzz_settings, hostile_text
from tests.learner_flow import answers, attempt_id, csrf, read_all, start_quiz, submit
from tests.lti.test_deep_linking import dl_launch
from tests.lti_flow import Flow
from tests.web.test_team import council, inbox  # noqa: F401 - fixtures

OMIT = object()
HUGE = "x" * 100_000  # with the rest of a form, still under the 256 KB request limit

# Values a person would type where the page cannot say (names, dates), so that examples
# also get past validation into the code behind it.
HINTS: dict[str, list[str]] = {
    "full_name": ["Aisha Khan", "aisha  KHAN", "Aisha Khan" + SCRIPT],
    "name": ["Payroll export", SCRIPT],
    "declared_on": ["1 4 2026", "31 2 2026", "1/4/2026", "0 0 0"],
    "declared_on-day": ["1", "31", "0"],
    "declared_on-month": ["4", "2", "13"],
    "declared_on-year": ["2026", "1900", "99999"],
    "accepted_from": ["1 4 2026", "2026-04-01"],
    "accepted_to": ["30 4 2026"],
    "note": ["Signed on paper at induction " + SCRIPT],
    "reason": ["Employment tribunal " + SCRIPT],
    "person": ["1", "2", "5", "-1", "0", "99999999999999999999"],
    "validity_months": ["1", "120", "121", "0"],
    "renewal_window_days": ["0", "30", "366"],
    "due_days": ["1", "3650", "3651"],
    "retention_years": ["1", "100", "101"],
    "retention_years_childrens": ["25", "0"],
}

ROSTER_HEADER = "Employee ID,First name,Last name,Email,Directorate,Department,Manager,Start date"


def _csv(rows: list[list[str]]) -> bytes:
    text = "\n".join([ROSTER_HEADER, *(",".join(r) for r in rows)])
    return text.encode("utf-8", "surrogatepass")


roster_files = st.tuples(
    st.one_of(
        st.lists(st.lists(hostile_text, max_size=9), max_size=5).map(_csv),
        st.binary(max_size=500),
        st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06" + b"\x00" * 18, b"\xef\xbb\xbf"]),
    ),
    st.sampled_from(["roster.csv", "roster.xlsx", "roster.txt", "", "../../r.csv", SCRIPT]),
)


# What to put in one field, drawn before the page is seen: the pages change as examples
# write (hypothesis needs the same draws to replay a failure), so the choice is abstract
# ("the page's second option", "hostile text") and is applied to whatever field is there.
VALID, HINT = "valid", "hint"
value_specs = st.one_of(
    st.tuples(st.just(VALID), st.integers(0, 99)),
    st.tuples(st.just(HINT), st.integers(0, 99)),
    st.tuples(st.just(VALID), st.integers(0, 99)),
    st.tuples(st.just("omit"), st.none()),
    st.tuples(st.just("text"), hostile_text),
    st.tuples(st.just("several"), st.lists(hostile_text, min_size=2, max_size=3)),
    st.tuples(st.just("several valid"), st.lists(st.integers(0, 99), min_size=2, max_size=4)),
    st.tuples(st.just("number"), st.integers(-(10**20), 10**20).map(str)),
    st.tuples(st.just("huge"), st.none()),
)


@dataclass(frozen=True)
class Filling:
    """Everything one form gets, as abstract choices (see value_specs)."""

    form: int
    values: list[tuple[str, Any]]
    file: tuple[bytes, str] | None
    extra: dict[str, str]
    encoding: str


fillings = st.builds(
    Filling,
    form=st.sampled_from(range(840)),
    values=st.lists(value_specs, min_size=12, max_size=12),
    file=st.one_of(st.none(), roster_files),
    extra=st.dictionaries(hostile_text, hostile_text, max_size=3),
    encoding=st.sampled_from(["form"] * 8 + ["multipart", "json"]),
)


def _value(found: Field, spec: tuple[str, Any]) -> Any:
    kind, arg = spec
    offered = [v for v in found.values if v]  # an empty text box offers nothing
    options = offered or HINTS.get(found.name) or found.values
    if kind == HINT:
        options = HINTS.get(found.name) or found.values
    if kind in (VALID, HINT):
        return options[arg % len(options)] if options else ""
    if kind == "several valid":
        return [options[i % len(options)] for i in arg] if options else OMIT
    return {"omit": OMIT, "huge": HUGE}.get(kind, arg)


def fill(form: Form, filling: Filling, *, with_csrf: bool = True) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for number, (name, found) in enumerate(form.fields.items()):
        if name == "csrf_token":
            continue
        if found.kind == "file":
            value: Any = filling.file if filling.file is not None else OMIT
        else:
            value = _value(found, filling.values[number % len(filling.values)])
        if value is not OMIT:
            values[name] = value
    values.update({k: v for k, v in filling.extra.items() if k not in form.fields})
    token = form.csrf_token
    if token is not None and with_csrf:
        values["csrf_token"] = token
    return values


def _encoded(values: dict[str, Any]) -> bytes:
    """URL-encoded as a hostile client may: lone surrogates become invalid UTF-8 bytes."""
    pairs = [(k, v) for k, vs in values.items() for v in (vs if isinstance(vs, list) else [vs])]
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


def _no_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_no_surrogates(v) for v in value]
    return value


def send(client: FlaskClient, form: Form, values: dict[str, Any], encoding: str) -> Any:
    files = {k: v for k, v in values.items() if isinstance(v, tuple)}
    if form.method == "get":
        plain = {k: v for k, v in values.items() if k not in files}
        return client.get(form.action + "?" + _encoded(plain).decode())
    if encoding == "json":
        return client.post(form.action, json=_no_surrogates({**values, **dict.fromkeys(files)}))
    if files or encoding == "multipart":
        data = {_no_surrogates(k): _no_surrogates(v) for k, v in values.items()}
        for name, (content, filename) in files.items():
            data[_no_surrogates(name)] = (io.BytesIO(content), _no_surrogates(filename))
        return client.post(form.action, data=data, content_type="multipart/form-data")
    return client.post(
        form.action, data=_encoded(values), content_type="application/x-www-form-urlencoded"
    )


def check_answer(response: Any, form: Form, what: str) -> str:
    html = assert_answer_is_safe(response, what)
    if response.status_code == 400 and response.mimetype == "text/html" and form.method == "post":
        again = [f for f in forms_on(html, form.action) if f.action == form.action]
        if again:  # the form shown back: its errors are summarised at the top
            assert "govuk-error-summary" in html, f"{what}: 400 without an error summary"
        else:
            assert "<h1" in html, what
    return html


@dataclass
class Run:
    """The pages one test fuzzes, and what its examples reached.

    A page "POST /path/{id}" is a form posted straight to that address (with a valid CSRF
    token), for the forms a page only shows in some states and for ids in paths."""

    client: FlaskClient
    pages: list[str]
    ids: list[int] = field(default_factory=list)
    static: dict[str, str] = field(default_factory=dict)  # pages only a POST answers with
    chain: bool = True  # go on to a form the answer shows
    seen: Counter[str] = field(default_factory=Counter)

    def direct(self, page: str) -> tuple[str, str]:
        """A page of its own with one CSRF-protected form to page's address."""
        pages = (self.client.get(p).get_data(as_text=True) for p in self.pages if "{" not in p)
        token = csrf(next(html for html in pages if 'name="csrf_token"' in html))
        action = page.removeprefix("POST ")
        html = f'<form method="post" action="{action}"><input type="hidden" '
        html += f'name="csrf_token" value="{token}"></form>'
        return action, html

    def key(self, form: Form) -> str:
        return form.method + " " + re.sub(r"/\d+", "/<id>", form.action)


@dataclass(frozen=True)
class Example:
    page: int
    id: int  # for a page with {id}: one of the run's ids, or one no table can hold
    first: Filling
    go_on: bool
    second: Filling


# Hypothesis starts from the simplest example: valid values, and going on to the next form.
examples_of_use = st.builds(
    Example,
    page=st.just(0),
    id=st.sampled_from([0, 1, 2, 3, 2**31 - 1, 2**31, 10**20]),
    first=fillings,
    go_on=st.booleans().map(lambda stop: not stop),
    second=fillings,
)


def fuzz_one(run: Run, example: Example) -> None:
    page = origin = run.pages[example.page]
    real = run.ids[example.id % len(run.ids)] if run.ids and example.id < 4 else example.id
    page = origin = page.format(id=real)
    if page in run.static:
        origin, html = "", run.static[page]
        response = None
    elif page.startswith("POST "):
        origin = ""
        page, html = run.direct(page)
        response = None
    else:
        response = run.client.get(page)
        html = assert_answer_is_safe(response, "GET " + page)
    for filling in (example.first, example.second):  # a form, and maybe one the answer shows
        forms = [f for f in forms_on(html, page) if f.fields or f.method == "post"]
        if (response is not None and response.status_code >= 300) or not forms:
            return
        form = forms[filling.form % len(forms)]
        run.seen[run.key(form)] += 1
        response = send(run.client, form, fill(form, filling), filling.encoding)
        html = check_answer(response, form, f"{form.method} {form.action}")
        if response.mimetype != "text/html" or not (example.go_on and run.chain):
            break
        page = form.action
    if origin:  # what the form stored, as the page shows it now
        assert_answer_is_safe(run.client.get(origin), "GET " + origin + " afterwards")


def sweep(run: Run, extra: list[str] = ()) -> None:  # type: ignore[assignment]
    """Every page again at the end: what was stored is shown escaped."""
    pages = [*run.pages, *extra]
    for page in [p for p in pages if p not in run.static and p[0] == "/" and "{" not in p]:
        assert_answer_is_safe(run.client.get(page), "GET " + page + " at the end")


def fuzz_pages(run: Run, per_page: int) -> None:
    """Each page in turn gets its examples (hypothesis alone would favour some pages)."""
    for page in range(len(run.pages)):
        _fuzz_page(run, page, per_page)


def _fuzz_page(run: Run, page: int, examples: int) -> None:
    @fuzz_settings(examples)
    @given(example=examples_of_use)
    def example(example: Example) -> None:
        fuzz_one(run, replace(example, page=page))

    example()


# -- the audiences ---------------------------------------------------------------------------------


def test_learner_quiz_forms(app: Flask, council: dict[str, Person], launched: Any) -> None:  # noqa: F811
    with app.app_context():  # no cool-down between blocks of attempts: the quiz stays open
        organisation = db.session.scalars(sa.select(Organisation)).one()
        organisation.quiz_settings = {"cooldown_minutes": 0}
        db.session.commit()
    client = launched("u-lee")
    read_all(client)
    run = Run(
        client,
        [
            "/quiz",
            "/quiz",
            "POST /quiz/attempts/{id}",
            "POST /quiz/attempts/{id}/more-time",
            "/quiz/attempts/{id}/result",
        ],
        ids=[1, 2, 3],
    )
    fuzz_pages(run, 10)
    sweep(run, ["/"])
    assert {"post /quiz/start", "post /quiz/attempts/<id>"} <= set(run.seen), run.seen
    print("learner quiz forms:", dict(run.seen))


def test_learner_declaration_forms(
    app: Flask,
    council: dict[str, Person],  # noqa: F811
    launched: Any,
) -> None:
    client = launched("u-aisha")
    read_all(client)
    action, page = start_quiz(client)  # one attempt passed, so the declaration is open
    submit(client, action, page, answers(app, attempt_id(action)))
    # The declaration, never confirmed: a confirmation ends the journey (and its forms).
    run = Run(client, ["/accept"], chain=False)
    fuzz_pages(run, 15)
    html = client.get("/accept").get_data(as_text=True)
    sent = client.post(
        "/accept", data={"accept": "y", "full_name": "Aisha Khan", "csrf_token": csrf(html)}
    )
    assert sent.location == "/accept/check"
    check = client.get(sent.location)
    assert 'action="/accept/confirm"' in check.get_data(as_text=True)
    # Then its confirmation, until one is valid, and the pages that follow.
    confirm = Run(
        client,
        ["confirmation", "/accept", "/accept/done/{id}", "/certificate/{id}.pdf"],
        ids=[1],
        static={"confirmation": check.get_data(as_text=True)},
    )
    fuzz_pages(confirm, 8)
    sweep(confirm, ["/"])
    run.seen.update(confirm.seen)
    assert {"post /accept", "post /accept/confirm"} <= set(run.seen), run.seen
    print("learner declaration forms:", dict(run.seen))


def test_hr_forms(
    app: Flask,
    council: dict[str, Person],  # noqa: F811
    inbox: Any,  # noqa: F811
    launched: Any,
) -> None:
    client = launched("u-priya")
    aisha, lee = council["E1001"].id, council["E1002"].id
    people = [f"/hr/people/{aisha}", f"/hr/people/{lee}"]
    run = Run(
        client,
        [
            "/hr/",
            "/hr/people",
            "/hr/settings",
            "/hr/roster",
            "/hr/identities",
            "/hr/exports",
            "/hr/api-tokens",
            *people,
            f"/hr/people/{aisha}/record-acceptance",
            f"/hr/people/{aisha}/legal-hold",
            f"/hr/people/{lee}/legal-hold",
            "/hr/people/{id}",
            "POST /hr/people/{id}/subject-access",
            "POST /hr/identities/{id}/confirm",
            "POST /hr/identities/{id}/undo",
            "POST /hr/identities/{id}/reviewed",
            "POST /hr/api-tokens/{id}/revoke",
        ],
        ids=[aisha, lee, 1, 2],
    )
    fuzz_pages(run, 6)
    sweep(run, ["/hr/quiz-statistics"])
    assert len(run.seen) >= 10, run.seen
    print("HR forms:", dict(run.seen))


def test_manager_forms(
    app: Flask,
    council: dict[str, Person],  # noqa: F811
    inbox: Any,  # noqa: F811
    launched: Any,
) -> None:
    # The check page holds the form that sends (the team page's form only leads to it), and
    # it keeps it only while Lee may be reminded again: at once, here.
    with app.app_context():
        organisation = db.session.scalars(sa.select(Organisation)).one()
        organisation.reminder_settings = {"min_interval_days": 0}
        db.session.commit()
    check = f"/team/remind?person={council['E1002'].id}"
    run = Run(launched("u-tom"), ["/team/", "/team/?tree=1", check, "POST /team/remind"])
    fuzz_pages(run, 8)
    sweep(run)
    assert "post /team/remind" in run.seen, run.seen
    print("manager forms:", dict(run.seen))


# -- what the fuzzing found, kept as plain cases -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/hr/people/2147483647", 404),  # the largest id a column holds: looked up, not found
        ("/hr/people/2147483648", 404),  # one more: PostgreSQL refused the query (500)
        ("/hr/people/99999999999999999999/legal-hold", 404),
        ("/hr/api-tokens/2147483648/revoke", 404),
    ],
)
def test_an_id_in_a_path_too_large_for_the_database_is_not_found(
    council: dict[str, Person],  # noqa: F811
    launched: Any,
    path: str,
    status: int,
) -> None:
    assert launched("u-priya").get(path).status_code == status


@pytest.mark.parametrize(
    "query",
    ["directorate=Pl%00ace", "department=%00", "manager=%C2%B2", "manager=99999999999999999999"],
)
def test_hr_filters_with_a_nul_or_an_odd_number_answer_not_fail(
    council: dict[str, Person],  # noqa: F811
    launched: Any,
    query: str,
) -> None:
    client = launched("u-priya")
    for page in ("/hr/", "/hr/people"):
        assert client.get(f"{page}?{query}").status_code == 200


@pytest.mark.parametrize(
    ("page", "action", "data"),
    [
        ("/hr/api-tokens", "/hr/api-tokens", {"name": "Payroll\x00"}),
        ("/hr/people/{id}/legal-hold", "/hr/people/{id}/legal-hold", {"reason": "Claim\x00 1"}),
        (
            "/hr/people/{id}/record-acceptance",
            "/hr/people/{id}/record-acceptance",
            {"note": "Paper\x00", "confirm": "y", "declared_on": "1 4 2026"},
        ),
    ],
)
def test_text_with_a_nul_is_refused_with_the_error_summary(
    council: dict[str, Person],  # noqa: F811
    launched: Any,
    page: str,
    action: str,
    data: dict[str, str],
) -> None:
    client = launched("u-priya")
    aisha = council["E1001"].id
    html = client.get(page.format(id=aisha)).get_data(as_text=True)
    response = client.post(action.format(id=aisha), data={**data, "csrf_token": csrf(html)})
    if response.status_code == 302:  # Post/Redirect/Get: the form shows its errors next
        assert response.location == page.format(id=aisha)
        response = client.get(response.location)
        assert response.status_code == 200
    else:
        assert response.status_code == 400
    assert "govuk-error-summary" in response.get_data(as_text=True)
    assert "control characters" in response.get_data(as_text=True)


def _html_form(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    return f'<form method="post" action="{action}">{inputs}</form>'


def test_lti_forms(app: Flask, registered: DemoPlatform, http: requests.Session) -> None:
    """The LMS's form posts (login, launch) and the new window's two steps."""
    blocked = tool_client(app, use_cookies=False)  # refuses cookies in the LMS's frame
    flow = Flow(blocked, registered, http)
    answer = flow.launch(flow.platform_answer(flow.auth_query("u-aisha")))
    assert answer.status_code == 200 and 'action="/lti/continue"' in answer.get_data(as_text=True)
    login = registered.login_params("u-aisha", "cp-2026")
    # A course editor's deep linking choice page (its form carries its own token).
    choice = dl_launch(tool_client(app), registered, http)
    assert choice.status_code == 200 and 'action="/lti/deep-link"' in choice.get_data(as_text=True)
    run = Run(
        tool_client(app),
        ["new window", "login", "launch", "deep link"],
        static={
            "deep link": choice.get_data(as_text=True),
            "new window": answer.get_data(as_text=True),
            "login": _html_form("/lti/login", login),
            "launch": _html_form("/lti/launch", {"id_token": "e30.e30.e30", "state": "s"}),
        },
    )
    fuzz_pages(run, 15)
    assert {
        "post /lti/continue",
        "post /lti/login",
        "post /lti/launch",
        "post /lti/deep-link",
    } <= set(run.seen)


# -- without the CSRF token ------------------------------------------------------------------------


def _rows(app: Flask) -> dict[str, Any]:
    """Every table's row count, and the organisation's settings (changed in place)."""
    with app.app_context():
        counts: dict[str, Any] = {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name not in ("login_state",)
        }
        organisation = db.session.scalars(sa.select(Organisation)).one()
        counts["settings"] = {c.key: getattr(organisation, c.key) for c in Organisation.__table__.c}
        db.session.remove()
        return counts


def test_every_form_without_its_csrf_token_is_refused_and_writes_nothing(
    app: Flask,
    council: dict[str, Person],  # noqa: F811
    inbox: Any,  # noqa: F811
    launched: Any,
) -> None:
    aisha = launched("u-aisha")
    read_all(aisha)
    hr, tom = launched("u-priya"), launched("u-tom")
    person = council["E1001"].id
    pages = {
        aisha: ["/quiz", "/accept"],
        tom: ["/team/"],
        hr: [
            "/hr/settings",
            "/hr/roster",
            "/hr/exports",
            "/hr/api-tokens",
            f"/hr/people/{person}",
            f"/hr/people/{person}/record-acceptance",
            f"/hr/people/{person}/legal-hold",
        ],
    }
    targets: list[tuple[FlaskClient, Form]] = []
    for client, urls in pages.items():
        for url in urls:
            html = client.get(url).get_data(as_text=True)
            targets += [(client, f) for f in forms_on(html, url) if f.method == "post"]
    for action in ("/hr/identities/1/confirm", f"/hr/people/{person}/subject-access"):
        targets.append((hr, Form("post", action, {"csrf_token": Field("csrf_token", "hidden")})))
    assert len(targets) >= 10, [f.action for _, f in targets]
    other_session = csrf(aisha.get("/quiz").get_data(as_text=True))
    before = _rows(app)

    @fuzz_settings(60)
    @given(
        target=st.sampled_from(range(len(targets))),
        filling=fillings,
        token=st.sampled_from([None, "", "junk", other_session]),
    )
    def post(target: int, filling: Filling, token: str | None) -> None:
        client, form = targets[target]
        values = fill(form, filling, with_csrf=False)
        values.pop("csrf_token", None)
        if token is not None:
            values["csrf_token"] = token
        response = send(client, form, values, filling.encoding)
        html = assert_answer_is_safe(response, form.action)
        # Several huge values together can pass the body limit: refused before the token
        # is read (413), which writes nothing either.
        assert response.status_code in (400, 413), (form.action, response.status_code)
        if response.status_code == 400:
            assert "Your form has expired" in html, form.action

    post()
    assert _rows(app) == before
