"""The memoised GOV.UK components render exactly what GOV.UK's own macros render."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, render_template_string
from markupsafe import Markup

from app.govuk import MEMOISED, Memoised, component

TASKS = {
    "idPrefix": "contents",
    "items": [
        {"title": {"text": "1. Our promise <to you>"}, "href": "/s/1", "status": {"text": "Read"}},
        {
            "title": {"text": "Quiz"},
            "hint": {"text": "Opens later"},
            "status": {"tag": {"text": "To do", "classes": "govuk-tag--blue"}},
        },
    ],
}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("govukTaskList", TASKS),
        ("govukTag", {"text": "Overdue", "classes": "govuk-tag--red"}),
        ("govukButton", {"text": "Start now", "href": "/start", "isStartButton": True}),
        ("govukBackLink", {"href": "/", "text": "Back"}),
        ("govukGenericHeader", {"logoText": "Test Borough Council", "url": "/"}),
        (
            "govukServiceNavigation",
            {"serviceName": "CP", "navigation": [{"href": "/", "text": "Yours", "active": True}]},
        ),
    ],
)
def test_a_memoised_component_renders_as_the_macro_does_each_time(
    app: Flask, name: str, params: dict[str, Any]
) -> None:
    assert set(MEMOISED) >= {name}
    with app.test_request_context("/"):
        original = component(app.jinja_env, name)(params)
        source = "{{ " + name + "(params) }}"
        first = render_template_string(source, params=params)
        again = render_template_string(source, params=params)
    assert first == again == str(original)
    assert isinstance(app.jinja_env.globals[name], Memoised)
    assert len(app.jinja_env.globals[name].cache) >= 1  # type: ignore[attr-defined]


def test_html_and_text_with_the_same_characters_are_kept_apart(app: Flask) -> None:
    with app.test_request_context("/"):
        tag = Memoised(component(app.jinja_env, "govukTag"))
        escaped = tag({"text": "<b>Done</b>"})
        trusted = tag({"text": Markup("<b>Done</b>")})
        as_number = tag({"text": 1})
        as_flag = tag({"text": True})
    assert "&lt;b&gt;Done&lt;/b&gt;" in escaped
    assert "<b>Done</b>" in trusted
    assert ">\n  1\n<" in as_number  # 1 == True in Python: one key for both would mix them up
    assert ">\n  True\n<" in as_flag
    assert len(tag.cache) == 4


def test_parameters_it_cannot_key_go_straight_to_the_macro_and_the_cache_stays_bounded(
    app: Flask,
) -> None:
    with app.test_request_context("/"):
        tag = Memoised(component(app.jinja_env, "govukTag"), size=3)
        assert "x" in tag({"text": "x", "attributes": {"data-when": object()}})
        assert not tag.cache
        for n in range(7):
            assert f">\n  {n}\n<" in tag({"text": str(n)})
    assert 1 <= len(tag.cache) <= 3


def test_templates_url_for_is_kept_per_address_and_matches_flasks(app: Flask) -> None:
    with app.test_request_context("/", base_url="https://tool.example/cp"):
        cached = app.jinja_env.globals["url_for"]
        page = "{{ url_for('learner.section', key=k) }}|{{ url_for('static', filename='app.css') }}"
        first = render_template_string(page, k="promise")
        assert first == (
            app.url_for("learner.section", key="promise")
            + "|"
            + app.url_for("static", filename="app.css")
        )
        assert first.startswith("/cp/")  # the script root is part of the address
        assert render_template_string(page, k="promise") == first
        assert render_template_string(page, k="duties").split("|")[0].endswith("/duties")
        # External addresses name the host: never kept.
        external = "{{ url_for('static', filename='app.css', _external=True) }}"
        assert render_template_string(external) == "https://tool.example/cp/static/app.css"
        assert not any("_external" in repr(key) for key in cached.cache)  # type: ignore[attr-defined]
    with app.test_request_context("/", base_url="https://tool.example/other"):
        assert render_template_string(page, k="promise").startswith("/other/")
