"""The committee report as a PDF (fpdf2): A4 portrait, the figures of committee.build laid
out as headed sections and tables, each chart followed by its data as a table.

Names and directorates come from the roster and the LMS and may be in any script: the text
uses DejaVu Sans, as the certificate does. The same report gives the same bytes: the file's
dates are the moment the figures were taken, and its identifier is a hash of its content.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace, TextStyle

from app.clock import long_date, long_datetime
from app.numbers import percent, points
from app.services import committee_charts as charts
from app.services.certificates import FONT_DIR
from app.services.committee import (
    FORECAST_WEEKS,
    MIN_ANSWERS,
    RENEWAL_DAYS,
    CommitteeReport,
    Count,
    Line,
    methods_notes,
)

TITLE = "Corporate Parenting Policy: completion report"
PERIOD_NAMES = {"month": "month", "quarter": "quarter", "year": "year"}
MARGIN = 15  # mm
FOOTER = 14  # mm kept free at the bottom of each page for the page number
# A heading with less than this left below it starts a new page, so it is never the last
# line of a page with its table on the next.
KEEP_WITH_NEXT = 40  # mm
HEADING_FILL = (243, 242, 241)  # GOV.UK's light grey: prints as a pale grey band


class _Document(FPDF):
    def footer(self) -> None:
        self.set_y(-FOOTER + 4)
        self.set_font("DejaVu", "", 8)
        # {nb}: fpdf2 puts the number of pages there when the document is finished.
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")


class _Writer:
    """The report's building blocks: headings, paragraphs, tables and charts."""

    def __init__(self, pdf: _Document) -> None:
        self.pdf = pdf

    def heading(self, text: str, level: int = 0) -> None:
        if self.pdf.y > self.pdf.page_break_trigger - KEEP_WITH_NEXT:
            self.pdf.add_page()
        self.pdf.start_section(text, level)

    def paragraph(self, text: str, style: str = "", space: float = 2) -> None:
        self.pdf.set_font("DejaVu", style, 10)
        self.pdf.multi_cell(0, 5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(space)

    def table(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        last_row_bold: bool = False,
    ) -> None:
        """A table across the page; the first column text, the others figures (right-aligned).
        Its heading row repeats at the top of each page it runs on to."""
        self.pdf.set_font("DejaVu", "", 9)
        align = ("LEFT",) + ("RIGHT",) * (len(headings) - 1)
        with self.pdf.table(
            col_widths=tuple(widths),
            text_align=align,
            borders_layout="HORIZONTAL_LINES",
            headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
            line_height=5,
            padding=(1, 1.5),
            repeat_headings=1,
        ) as table:
            table.row(list(headings))
            for i, cells in enumerate(rows):
                bold = last_row_bold and i == len(rows) - 1
                table.row(list(cells), style=FontFace(emphasis="BOLD") if bold else None)
        self.pdf.ln(4)

    def chart(self, heading: str, png: bytes, alt: str) -> None:
        """A heading and a chart the width of the page (narrower if it must be, to fit a
        page's height), both on a new page if the chart does not fit below. The text
        alternative goes in the PDF's structure, where screen readers read it."""
        pdf = self.pdf
        pixels_wide, pixels_high = struct.unpack(">II", png[16:24])  # the PNG's IHDR
        ratio = pixels_high / pixels_wide
        width = pdf.epw
        available = pdf.page_break_trigger - pdf.t_margin - KEEP_WITH_NEXT / 2
        if width * ratio > available:
            width = available / ratio
        if pdf.y + KEEP_WITH_NEXT / 2 + width * ratio > pdf.page_break_trigger:
            pdf.add_page()
        self.heading(heading)
        pdf.image(io.BytesIO(png), x=pdf.l_margin + (pdf.epw - width) / 2, w=width, alt_text=alt)
        pdf.ln(4)


def _figures(count: Count) -> str:
    return f"{percent(count.rate)} ({count.completed})" if count.people else "-"


def _line_row(line: Line) -> list[str]:
    now = line.now
    return [
        line.label,
        str(now.people),
        _figures(now),
        str(now.overdue),
        str(now.expired),
        points(line.change),
    ]


LINE_HEADINGS = (
    "",  # the first column's heading is set per table
    "People",
    "Completed and in date",
    "Overdue",
    "Expired",
    "Change (points)",
)
LINE_WIDTHS = (60, 20, 34, 22, 22, 26)


def _london(moment: datetime) -> str:
    return f"{long_datetime(moment)} (London time)"


def render(report: CommitteeReport, font_dir: Path = FONT_DIR) -> bytes:
    pdf = _Document(orientation="portrait", format="A4")
    pdf.set_title(f"{TITLE}, {long_date(report.day)} - {report.organisation}")
    pdf.set_author(report.organisation)
    pdf.set_subject(TITLE)
    pdf.set_lang("en-GB")
    pdf.set_creation_date(report.methods.taken_at)
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=FOOTER + 4)
    pdf.set_section_title_styles(
        TextStyle(font_family="DejaVu", font_style="B", font_size_pt=14, t_margin=4, b_margin=3),
        TextStyle(font_family="DejaVu", font_style="B", font_size_pt=11, t_margin=2, b_margin=2),
    )
    pdf.add_page()
    w = _Writer(pdf)

    # The title block.
    w.paragraph(report.organisation, "B", space=1)
    pdf.set_font("DejaVu", "B", 18)
    pdf.multi_cell(0, 9, TITLE, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    period = PERIOD_NAMES[report.period]
    w.paragraph(
        f"Figures as at the end of {long_date(report.day)}, compared with the start of the "
        f"{period} ({long_date(report.period_start)}).",
        space=4,
    )

    overall = report.overall
    w.heading("Summary")
    w.paragraph(
        f"Completed and in date now: {percent(overall.now.rate)} "
        f"({overall.now.completed} of {overall.now.people} people).",
        space=1,
    )
    w.paragraph(
        f"At the start of the {period}: {percent(overall.start.rate)} "
        f"({overall.start.completed} of {overall.start.people} people).",
        space=1,
    )
    w.paragraph(f"Change: {points(overall.change)} percentage points.", space=1)
    w.paragraph(f"Overdue now: {overall.now.overdue}. Expired now: {overall.now.expired}.", space=1)
    w.paragraph(f"Target: {report.target_percent}% completed and in date.", space=3)

    w.heading("By directorate")
    w.table(
        ("Directorate", *LINE_HEADINGS[1:]),
        [_line_row(line) for line in [*report.by_directorate, overall]],
        LINE_WIDTHS,
        last_row_bold=True,
    )

    w.heading("Councillors and staff")
    w.table(("Group", *LINE_HEADINGS[1:]), [_line_row(line) for line in report.groups], LINE_WIDTHS)
    if report.councillors_not_completed is not None:
        w.heading("Councillors who have not completed", 1)
        names = report.councillors_not_completed
        w.paragraph("\n".join(names) if names else "None", space=3)

    w.chart("Trend", charts.trend_chart(report, "png"), charts.trend_alt(report))
    w.paragraph(
        f"Completion on the same day of each of the last 12 months, up to {long_date(report.day)}."
    )
    w.table(
        ("Date", "People", "Completed", "% all", "% councillors", "% staff"),
        [
            [
                long_date(point.day),
                str(point.overall.people),
                str(point.overall.completed),
                percent(point.overall.rate),
                percent(point.councillors.rate),
                percent(point.staff.rate),
            ]
            for point in report.trend
        ],
        (44, 24, 28, 24, 34, 30),
    )

    w.heading("Forecast")
    w.paragraph(
        f"At the rate of the last {FORECAST_WEEKS} weeks, the day each group reaches the "
        f"{report.target_percent}% target."
    )
    w.table(
        ("Group", "Now", f"{FORECAST_WEEKS} weeks ago", "Points a week", "Reaches target on"),
        [
            [
                forecast.label,
                percent(forecast.rate_now),
                percent(forecast.rate_before),
                points(forecast.points_per_week),
                forecast.text,
            ]
            for forecast in report.forecasts
        ],
        (62, 20, 28, 28, 46),
    )

    w.chart(
        "Completion by directorate, start of the period and now",
        charts.directorate_chart(report, "png"),
        charts.directorate_alt(report),
    )
    w.table(
        ("Directorate", f"{long_date(report.period_start)}", f"{long_date(report.day)}", "Change"),
        [
            [
                line.label,
                percent(line.start.rate),
                percent(line.now.rate),
                points(line.change),
            ]
            for line in report.by_directorate
        ],
        (88, 34, 34, 28),
    )

    w.heading(f"Renewals in the next {RENEWAL_DAYS} days")
    w.paragraph("People whose completion runs out, by how many days from the report's date.")
    w.table(
        ("Directorate", "Within 30 days", "31 to 60 days", "61 to 90 days", "Total"),
        [
            [r.label, str(r.within_30), str(r.within_60), str(r.within_90), str(r.total)]
            for r in report.renewals
        ],
        (64, 30, 30, 30, 30),
        last_row_bold=True,
    )

    w.heading("The quiz's weakest questions")
    if not report.weakest:
        w.paragraph("Not enough answers in the period.", space=3)
    else:
        w.paragraph(
            f"The questions with the lowest share of correct answers in the {period}, of "
            f"{report.questions_ranked} answered at least {MIN_ANSWERS} times."
        )
        w.table(
            ("Question", "Section", "Answered", "Correct"),
            [[q.stem, q.section, str(q.answered), percent(q.share)] for q in report.weakest],
            (96, 40, 24, 24),
        )

    w.heading("Methods")
    for text in methods_notes(report):
        w.paragraph(text)
    return bytes(pdf.output())
