"""The committee report's PDF and its charts, from reports built by hand (fixed figures; a
directorate named with HTML, a councillor's name in Unicode, a group with no one, no quiz
questions ranked, enough directorates for tables to run over a page).

The PDF is read back twice: as text (pypdf) for its headings and figures, and as pictures
(pdftoppm from Debian's poppler-utils, at 50 dpi) for blank pages and drawn charts. Without
pdftoppm the picture tests are skipped, except in CI (CI=true), which must run them.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree
from PIL import Image
from pypdf import PdfReader
from sqlalchemy.orm import Session

from app.numbers import percent, points
from app.services import committee, committee_pdf
from app.services import committee_charts as charts
from app.services.committee import (
    CommitteeReport,
    Count,
    Forecast,
    Line,
    Methods,
    Renewals,
    TrendPoint,
    WeakQuestion,
)
from tests.services.test_committee_figures import DAY, KEY, council, noon

HOSTILE = "Children's Services & <script>alert(1)</script>"
COUNCILLOR = "Zoë Ó Briain-Łukasiewicz"
SVG = "{http://www.w3.org/2000/svg}"
TREND_DAYS = [date(2025, 12, 6)] + [date(2026, month, 6) for month in range(1, 13)]


def directorates(n: int) -> list[Line]:
    """A hostile name first, then "Directorate 1".. (20 + i people, fewer done at the start),
    then a directorate with no one in it."""
    names = [HOSTILE] + [f"Directorate {i}" for i in range(1, n)]
    lines = [
        Line(name, Count(20 + i, 15 + i % 5, 2, 1), Count(20 + i, 10 + i % 5, 3, 2))
        for i, name in enumerate(names)
    ]
    return [*lines, Line("Empty team", Count(), Count())]


def make_report(n_directorates: int = 4, **changes: Any) -> CommitteeReport:
    by_directorate = directorates(n_directorates)
    report = CommitteeReport(
        organisation="Test Borough Council",
        day=date(2026, 12, 6),
        period="quarter",
        period_start=date(2026, 9, 6),
        target_percent=95,
        overall=Line("All people", Count(100, 84, 10, 6), Count(100, 70, 20, 10)),
        by_directorate=by_directorate,
        groups=[
            Line("Councillors on the committee", Count(4, 3, 1, 0), Count(4, 2, 2, 0)),
            Line("Other councillors", Count(6, 4, 1, 1), Count(6, 3, 2, 1)),
            Line("All councillors", Count(10, 7, 2, 1), Count(10, 5, 4, 1)),
            Line("Staff", Count(90, 77, 8, 5), Count(90, 65, 16, 9)),
        ],
        councillors_not_completed=[COUNCILLOR, "Sam Patel", "Jo Evans"],
        trend=[
            TrendPoint(
                day,
                Count(100, 61 + 2 * i),  # 61% .. 85%
                Count(10, 5 + i // 4),  # 50% .. 80%
                Count(90, 56 + 2 * i - i // 4),
            )
            for i, day in enumerate(TREND_DAYS)
        ],
        forecasts=[
            Forecast("All people", 0.84, 0.78, 0.75, False, date(2027, 3, 1)),
            Forecast(HOSTILE, 0.96, 0.9, 0.75, True, None),
            Forecast("Directorate 1", 0.5, 0.52, -0.25, False, None),
        ],
        renewals=[
            *[Renewals(line.label, 1, 2, 3) for line in by_directorate],
            Renewals("Total", 4, 8, 12),
        ],
        weakest=[],
        questions_ranked=0,
        methods=Methods(
            policy_version="2.0",
            due_days=28,
            validity_months=12,
            taken_at=datetime(2026, 12, 6, 7, 30, tzinfo=UTC),
            audit_seq=1234,
            audit_hash="0123456789abcdef" + "f" * 48,
            # In British Summer Time: shown an hour later, on the next day.
            checkpoint_at=datetime(2026, 7, 1, 23, 30, tzinfo=UTC),
            checkpoint_seq=1200,
        ),
    )
    return replace(report, **changes)


def pages_text(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


# --- the PDF as text ---------------------------------------------------------------------


def test_the_pdf_has_its_sections_in_order_with_the_report_s_figures() -> None:
    pdf = committee_pdf.render(make_report())
    pages = pages_text(pdf)
    text = " ".join(pages)
    headings = [
        "Test Borough Council Corporate Parenting Policy: completion report",
        "Summary",
        "By directorate",
        "Councillors and staff",
        "Councillors who have not completed",
        "Trend",
        "Forecast",
        "Completion by directorate, start of the period and now",
        "Renewals in the next 90 days",
        "The quiz's weakest questions",
        "Methods",
    ]
    places = [text.find(heading) for heading in headings]
    assert -1 not in places, dict(zip(headings, places, strict=True))
    assert places == sorted(places)
    for expected in (
        "Figures as at the end of 6 December 2026, compared with the start of the quarter "
        "(6 September 2026).",
        "Completed and in date now: 84% (84 of 100 people).",
        "At the start of the quarter: 70% (70 of 100 people).",
        "Change: +14.0 percentage points.",
        "Overdue now: 10. Expired now: 6.",
        "Target: 95% completed and in date.",
        # Directorate 1: 21 people, 16 done now (76%), 11 at the start (52%): +23.8 points.
        "Directorate 1 21 76% (16) 2 1 +23.8",
        "Empty team 0 - 0 0 -",
        "All people 100 84% (84) 10 6 +14.0",
        "Councillors on the committee 4 75% (3) 1 0 +25.0",
        "Staff 90 86% (77) 8 5 +13.3",
        COUNCILLOR,
        "6 December 2025 100 61 61% 50% 62%",
        "6 December 2026 100 85 85% 80% 86%",
        "All people 84% 78% +0.8 1 March 2027",
        "Target reached",
        "Directorate 1 50% 52% -0.3 Not at this rate",
        "Directorate 1 52% 76% +23.8",
        "Total 4 8 12 24",
        "Not enough answers in the period.",
        "Policy version: 2.0, in force on 6 December 2026.",
        "Figures taken at 6 December 2026 at 7:30am (London time).",
        "Audit trail: the figures were taken at its event 1234, hash 0123456789abcdef (its "
        "first 16 hexadecimal characters).",
        "Latest checkpoint of the audit trail written outside the database: event 1200, at 2 "
        "July 2026 at 12:30am (London time).",
        "each lasts 12 months",
        "a paper declaration from the day it was signed",
        "within 28 days",
    ):
        assert expected in text, expected
    assert "0123456789abcdeff" not in text  # the hash's first 16 characters, no more
    # The roster's text is text: the hostile name is printed as it is, in every table.
    assert text.count(HOSTILE) >= 4
    assert pages[0].endswith(f"Page 1 of {len(pages)}")
    assert pages[-1].endswith(f"Page {len(pages)} of {len(pages)}")


def test_the_pdf_s_metadata_language_and_date_come_from_the_report() -> None:
    reader = PdfReader(io.BytesIO(committee_pdf.render(make_report())))
    assert reader.metadata is not None
    assert reader.metadata.title == (
        "Corporate Parenting Policy: completion report, 6 December 2026 - Test Borough Council"
    )
    assert reader.metadata.author == "Test Borough Council"
    assert reader.metadata["/CreationDate"] == "D:20261206073000Z"
    assert reader.trailer["/Root"]["/Lang"] == "en-GB"


def test_the_same_report_gives_the_same_bytes_and_another_does_not() -> None:
    report = make_report()
    assert committee_pdf.render(report) == committee_pdf.render(report)
    later = replace(
        report, methods=replace(report.methods, taken_at=datetime(2026, 12, 6, 8, 0, tzinfo=UTC))
    )
    assert committee_pdf.render(later) != committee_pdf.render(report)


def figure_alts(pdf: bytes) -> list[str]:
    """The text alternatives of the pictures in the PDF's structure tree."""
    found: list[str] = []

    def walk(node: Any) -> None:
        node = node.get_object()
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if "/Alt" in node:
                found.append(str(node["/Alt"]))
            if "/K" in node:
                walk(node["/K"])

    walk(PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/StructTreeRoot"])
    return found


def test_each_chart_carries_its_text_alternative() -> None:
    report = make_report()
    assert figure_alts(committee_pdf.render(report)) == [
        charts.trend_alt(report),
        charts.directorate_alt(report),
    ]


def test_councillors_names_are_listed_only_when_the_organisation_lists_them() -> None:
    hidden = " ".join(pages_text(committee_pdf.render(make_report(councillors_not_completed=None))))
    assert "Councillors who have not completed" not in hidden
    assert COUNCILLOR not in hidden
    nobody = " ".join(pages_text(committee_pdf.render(make_report(councillors_not_completed=[]))))
    assert re.search(r"Councillors who have not completed None (Page 1 of \d+ )?Trend", nobody)


def test_the_weakest_questions_are_listed_with_their_share_correct() -> None:
    weakest = [
        WeakQuestion("q7", "Councillors", "Who is a corporate parent?", 40, 12),
        WeakQuestion("q2", "Principles", "Which principle covers <b>housing</b>?", 10, 5),
    ]
    text = " ".join(
        pages_text(committee_pdf.render(make_report(weakest=weakest, questions_ranked=14)))
    )
    assert (
        "The questions with the lowest share of correct answers in the quarter, of 14 "
        "answered at least 10 times."
    ) in text
    assert "Who is a corporate parent? Councillors 40 30%" in text
    assert "Which principle covers <b>housing</b>? Principles 10 50%" in text
    assert "Not enough answers" not in text


def test_a_table_that_runs_over_a_page_repeats_its_heading_row() -> None:
    pages = pages_text(committee_pdf.render(make_report(40)))
    # The by-directorate table ends with the organisation's row; 40 directorates do not fit
    # on the first page, so that row is on a later one, under the table's heading row again.
    last = next(i for i, page in enumerate(pages) if "All people 100 84% (84) 10 6 +14.0" in page)
    assert last > 0
    continued = pages[last]
    assert continued.index("Overdue") < continued.index("Directorate 39 ")
    assert "Expired" in continued and "People" in continued
    assert "Summary" not in continued


# --- the PDF as pictures -----------------------------------------------------------------


@pytest.fixture
def pdftoppm() -> str:
    path = shutil.which("pdftoppm")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm (Debian's poppler-utils) is missing: CI must check the pages")
        pytest.skip("pdftoppm (Debian's poppler-utils) is missing; scripts/test installs it")
    return path


def page_images(pdftoppm: str, pdf: bytes, folder: Path) -> list[Image.Image]:
    source = folder / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run([pdftoppm, "-r", "50", "-png", str(source), str(folder / "page")], check=True)
    files = sorted(folder.glob("page-*.png"), key=lambda f: int(f.stem.split("-")[1]))
    images = []
    for file in files:
        with Image.open(file) as image:
            images.append(image.convert("L"))
    return images


def ink_share(image: Image.Image) -> float:
    """The share of the page above the footer that is not white."""
    width, height = image.size
    body = image.crop((0, 0, width, height - height * 20 // 297))
    return sum(body.histogram()[:250]) / (body.width * body.height)


def tallest_drawing(image: Image.Image) -> int:
    """The most pixel rows in a row with ink (darker than the tables' light grey): a chart's
    axis runs down its whole height, while text and table rows have white rows between."""
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    best = run = 0
    for y in range(height):
        inked = any(pixels[x, y] < 230 for x in range(width))
        run = run + 1 if inked else 0
        best = max(best, run)
    return best


def test_no_page_is_blank_and_the_two_charts_are_drawn_where_their_headings_are(
    pdftoppm: str, tmp_path: Path
) -> None:
    pdf = committee_pdf.render(make_report(40))
    reader = PdfReader(io.BytesIO(pdf))
    images = page_images(pdftoppm, pdf, tmp_path)
    assert len(images) == len(reader.pages) >= 5
    for number, image in enumerate(images, 1):
        # Two lines of text on a last page are about 0.6%; a blank page has none.
        assert ink_share(image) > 0.002, f"page {number} is blank"
    texts = pages_text(pdf)
    with_pictures = [i for i, page in enumerate(reader.pages) if page.images]
    trend = next(i for i, t in enumerate(texts) if "Trend " in t and "% councillors" in t)
    by_directorate = next(
        i for i, t in enumerate(texts) if "Completion by directorate, start of the period" in t
    )
    assert with_pictures == [trend, by_directorate]
    for i, image in enumerate(images):
        # 50 dpi: 2 pixels a millimetre. The trend chart is 90 mm tall; text rows are 5 mm.
        if i in with_pictures:
            assert tallest_drawing(image) > 80, f"page {i + 1} has no chart drawn"
        else:
            assert tallest_drawing(image) < 40, f"page {i + 1} has a drawing it should not"


def test_a_report_built_from_a_council_s_records_reads_back_with_its_figures(
    session: Session, pdftoppm: str, tmp_path: Path
) -> None:
    s, _ = council(session, report_councillor_names="listed")
    report = committee.build(session, s.org.id, KEY, DAY, "quarter", noon(DAY))
    assert report.councillors_not_completed and len(report.by_directorate) >= 3
    pdf = committee_pdf.render(report)
    text = " ".join(pages_text(pdf))
    now, start = report.overall.now, report.overall.start
    assert "Boundary Borough Corporate Parenting Policy: completion report" in text
    assert (
        "Figures as at the end of 18 November 2026, compared with the start of the quarter "
        "(18 August 2026)."
    ) in text
    assert (
        f"Completed and in date now: {percent(now.rate)} ({now.completed} of {now.people}" in text
    )
    assert f"At the start of the quarter: {percent(start.rate)} ({start.completed} of" in text
    for line in [*report.by_directorate, *report.groups, report.overall]:
        row = (
            f"{line.label} {line.now.people} {percent(line.now.rate)} ({line.now.completed}) "
            f"{line.now.overdue} {line.now.expired} {points(line.change)}"
        )
        assert row in text
    for name in report.councillors_not_completed:
        assert name in text
    for point in report.trend:
        assert (
            f"{point.day.day} {point.day:%B %Y} {point.overall.people} {point.overall.completed} "
            f"{percent(point.overall.rate)} {percent(point.councillors.rate)}"
        ) in text
    for forecast in report.forecasts:
        assert f"{forecast.label} {percent(forecast.rate_now)}" in text
    assert f"Policy version: {report.methods.policy_version}, in force on" in text
    images = page_images(pdftoppm, pdf, tmp_path)
    assert all(ink_share(image) > 0.002 for image in images)
    drawn = [i for i, image in enumerate(images) if tallest_drawing(image) > 80]
    reader = PdfReader(io.BytesIO(pdf))
    assert drawn == [i for i, page in enumerate(reader.pages) if page.images]
    assert len(drawn) == 2
    assert figure_alts(pdf) == [charts.trend_alt(report), charts.directorate_alt(report)]


# --- the charts --------------------------------------------------------------------------


def svg_texts(svg: bytes) -> list[str]:
    root = ElementTree.fromstring(svg)
    return [element.text or "" for element in root.iter(f"{SVG}text")]


def test_the_trend_chart_as_svg_has_its_legend_and_axes_as_text() -> None:
    svg = charts.trend_chart(make_report(), "svg")
    texts = svg_texts(svg)
    for label in ("All people", "Councillors", "Staff", "Target (95%)", "0%", "100%", "Jan"):
        assert label in texts
    assert "Dec\n2025" in texts or ("Dec" in texts and "2025" in " ".join(texts))


def test_the_charts_escape_the_roster_s_text_and_never_read_it_as_mathtext() -> None:
    report = make_report(
        by_directorate=[
            Line(HOSTILE, Count(10, 5), Count(10, 4)),
            Line("Budget $1m $ savings", Count(10, 9), Count(10, 8)),
        ]
    )
    svg = charts.directorate_chart(report, "svg")
    root = ElementTree.fromstring(svg)
    assert not list(root.iter(f"{SVG}script"))
    assert b"<script" not in svg
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert b"Children's Services &amp;" in svg
    texts = svg_texts(svg)
    # Wrapped at 28 characters on two lines.
    assert "Children's Services &" in texts
    assert "<script>alert(1)</script>" in texts
    assert "Budget $1m $ savings" in texts


def dash_patterns(svg: bytes) -> dict[str, str]:
    """Each plotted line's colour -> its dash pattern ("solid" when it has none)."""
    root = ElementTree.fromstring(svg)
    found: dict[str, str] = {}
    for group in root.iter(f"{SVG}g"):
        if not group.get("id", "").startswith("line2d_"):
            continue
        for path in group.iter(f"{SVG}path"):
            style = path.get("style", "")
            stroke = re.search(r"stroke: (#[0-9a-f]{6})", style)
            width = re.search(r"stroke-width: ([0-9.]+)", style)
            if stroke and width and float(width.group(1)) >= 1.4:
                dashes = re.search(r"stroke-dasharray: ([0-9.,]+)", style)
                found[stroke.group(1)] = dashes.group(1) if dashes else "solid"
    return found


def test_in_black_and_white_the_lines_still_differ_by_their_dashes() -> None:
    patterns = dash_patterns(charts.trend_chart(make_report(), "svg"))
    assert set(patterns) == {charts.BLACK, charts.BLUE, charts.GREEN, charts.GREY}
    assert patterns[charts.BLACK] == "solid"
    assert len(set(patterns.values())) == 4, patterns


def test_a_group_with_no_one_has_no_line_and_the_text_says_so() -> None:
    report = make_report()
    report = replace(
        report,
        trend=[replace(point, councillors=Count()) for point in report.trend],
    )
    patterns = dash_patterns(charts.trend_chart(report, "svg"))
    assert charts.BLUE not in patterns
    assert "Councillors" not in svg_texts(charts.trend_chart(report, "svg"))
    assert charts.trend_alt(report) == (
        "Completion rose from 61% on 6 December 2025 to 85% on 6 December 2026; "
        "no councillors, staff 86%; target 95%."
    )


@pytest.mark.parametrize("draw", [charts.trend_chart, charts.directorate_chart])
def test_a_chart_is_the_same_bytes_for_the_same_report(draw: Any) -> None:
    report = make_report()
    for fmt in charts.FORMATS:
        assert draw(report, fmt) == draw(make_report(), fmt)
    assert draw(report, "svg") != draw(replace(report, target_percent=90), "svg")


@pytest.mark.parametrize(
    ("draw", "size"),
    [(charts.trend_chart, (1440, 720)), (charts.directorate_chart, (1440, 680))],
)
def test_a_chart_as_png_decodes_at_200_dpi(draw: Any, size: tuple[int, int]) -> None:
    # The directorate chart is 1.3 inches and 0.42 a directorate tall: 5 directorates here.
    with Image.open(io.BytesIO(draw(make_report(), "png"))) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == size
        assert round(image.info["dpi"][0]) == 200


def test_a_chart_in_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        charts.trend_chart(make_report(), "pdf")


def test_the_trend_alternative_says_whether_completion_rose_fell_or_stayed() -> None:
    report = make_report()
    assert charts.trend_alt(report) == (
        "Completion rose from 61% on 6 December 2025 to 85% on 6 December 2026; "
        "councillors 80%, staff 86%; target 95%."
    )
    reversed_trend = [
        replace(point, day=day) for point, day in zip(report.trend[::-1], TREND_DAYS, strict=True)
    ]
    assert charts.trend_alt(replace(report, trend=reversed_trend)).startswith(
        "Completion fell from 85% on 6 December 2025 to 61% on 6 December 2026;"
    )
    # 84.5% and 84.9% both print as 85%: the sentence agrees with the table.
    flat = [
        replace(report.trend[0], overall=Count(200, 169)),
        *report.trend[1:-1],
        replace(report.trend[-1], overall=Count(1000, 849)),
    ]
    assert charts.trend_alt(replace(report, trend=flat)).startswith(
        "Completion stayed at 85% from 6 December 2025 to 6 December 2026;"
    )
    nobody = [
        replace(point, overall=Count(), councillors=Count(), staff=Count())
        for point in report.trend
    ]
    assert charts.trend_alt(replace(report, trend=nobody)) == (
        "No one was counted between 6 December 2025 and 6 December 2026; "
        "no councillors, no staff; target 95%."
    )


def test_the_directorate_alternative_names_the_highest_the_lowest_and_the_empty() -> None:
    report = make_report()
    # Directorate 3 (23 people, 18 done: 78%) is highest; the hostile one (20, 15: 75%) lowest.
    assert charts.directorate_alt(report) == (
        "0 of 4 directorates at or above the 95% target; "
        "highest Directorate 3 78% (57% at the start), "
        f"lowest {HOSTILE} 75% (50% at the start). No people in: Empty team."
    )
    # At the target exactly: 190 of 200. Just under it, 189 of 200 (94.5%) prints as 95% but
    # has not reached it, as the forecast says.
    at_target = [Line("Place", Count(200, 190), Count(200, 150))]
    assert charts.directorate_alt(replace(report, by_directorate=at_target)) == (
        "1 of 1 directorate at or above the 95% target: Place 95% (75% at the start)."
    )
    below = [Line("Place", Count(200, 189), Count(200, 150))]
    assert charts.directorate_alt(replace(report, by_directorate=below)) == (
        "0 of 1 directorate at or above the 95% target: Place 95% (75% at the start)."
    )
    forecast = committee.forecast("Place", below[0].now, below[0].start, report.day, 95)
    assert not forecast.reached
    empty = [Line("Not recorded", Count(), Count())]
    assert charts.directorate_alt(replace(report, by_directorate=empty)) == (
        "No directorate has anyone in it on 6 December 2026; target 95%. "
        "No people in: Not recorded."
    )


def test_the_charts_draw_with_a_home_directory_that_cannot_be_written(tmp_path: Path) -> None:
    # matplotlib's font cache goes in MPLCONFIGDIR, else under HOME: with neither writable
    # it uses a temporary directory (and logs a warning) instead of failing.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
    }
    env["HOME"] = "/dev/null"  # not a directory: nothing can be made under it, even by root
    env["TMPDIR"] = str(tmp_path)
    code = (
        "import sys; from tests.services.test_committee_pdf import make_report;"
        "from app.services import committee_charts as c;"
        "sys.stdout.write(str(len(c.trend_chart(make_report(), 'png'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 10_000
    assert "Matplotlib created a temporary cache directory" in result.stderr


def test_charts_drawn_at_once_in_several_threads_are_those_drawn_one_by_one() -> None:
    # A web worker with threads: matplotlib's settings are global, so drawing takes a lock.
    report = make_report()
    other = replace(report, target_percent=50)
    expected = {95: charts.trend_chart(report, "svg"), 50: charts.trend_chart(other, "svg")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        drawn = list(
            pool.map(
                lambda r: (r.target_percent, charts.trend_chart(r, "svg")), [report, other] * 4
            )
        )
    assert all(svg == expected[target] for target, svg in drawn)


def test_the_svg_s_text_is_dejavu_sans_or_else_the_browser_s_sans_serif() -> None:
    svg = charts.trend_chart(make_report(), "svg").decode()
    families = set(re.findall(r"font-family: ([^;\"]+)", svg))
    assert families == {"'DejaVu Sans', sans-serif"}


def test_a_new_organisation_s_methods_say_there_is_no_audit_event_or_checkpoint_yet() -> None:
    report = make_report(period="year", period_start=date(2025, 12, 6))
    report = replace(
        report,
        methods=replace(
            report.methods, audit_seq=None, audit_hash=None, checkpoint_at=None, checkpoint_seq=None
        ),
    )
    text = " ".join(pages_text(committee_pdf.render(report)))
    assert "compared with the start of the year (6 December 2025)." in text
    assert "At the start of the year: 70% (70 of 100 people)." in text
    assert "Audit trail: no events recorded yet." in text
    assert "written outside the database: none yet." in text
