"""The committee report's two charts (completion over 12 months; by directorate at the start
of the period and now), drawn by matplotlib as PNG for the PDF and SVG for the HR page, and a
sentence or two saying what each shows, for anyone who cannot see it.

Printable in black and white: lines differ by dash pattern and marker, bars by hatching, not
by colour alone. Drawn with matplotlib's object API (Figure, never pyplot, whose global state
is not thread-safe) under a lock, because rc_context changes matplotlib's global settings for
as long as a chart is drawn. Text from the roster (directorate names) is never parsed as
mathtext and is escaped in SVG by matplotlib's XML writer.

matplotlib keeps a font cache in MPLCONFIGDIR, else ~/.config/matplotlib; where that cannot
be written (a read-only home) it makes a temporary directory, logs a warning, and builds the
cache again in each process: set MPLCONFIGDIR to a writable directory in production.
"""

from __future__ import annotations

import io
import math
import textwrap
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MultipleLocator, PercentFormatter

from app.clock import long_date
from app.numbers import percent
from app.services.committee import CommitteeReport, Count, Line

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FORMATS = ("svg", "png")
PNG_DPI = 200  # the PDF places the trend chart 180 mm wide: about 190 dpi on paper
WIDTH_INCHES = 7.2

# GOV.UK's dark colours; each stays a distinct grey when printed in black and white, and the
# line styles and markers tell the lines apart without colour anyway.
BLACK = "#0b0c0c"
BLUE = "#1d70b8"
GREEN = "#00703c"
GREY = "#505a5f"

# (label, attribute of TrendPoint, colour, line style, marker). The target is the one
# dashed line; the others are solid, dotted and dash-dot.
TREND_LINES = (
    ("All people", "overall", BLACK, "-", "o"),
    ("Councillors", "councillors", BLUE, ":", "s"),
    ("Staff", "staff", GREEN, "-.", "^"),
)
TARGET_STYLE: dict[str, Any] = {"color": GREY, "linestyle": "--", "linewidth": 1.4}

_RC: dict[RcKeyType, Any] = {
    # DejaVu Sans: bundled with matplotlib. In the SVG, "'DejaVu Sans', sans-serif": a
    # browser without it uses its own sans-serif (not its default serif).
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "text.parse_math": False,  # "$" in a directorate's name is text, not mathtext
    "svg.fonttype": "none",  # text stays text: selectable, searchable, smaller
    "svg.hashsalt": "committee-report",  # ids in the SVG do not change from run to run
    "hatch.linewidth": 0.8,
    "axes.edgecolor": GREY,
    "axes.labelcolor": BLACK,
    "xtick.color": BLACK,
    "ytick.color": BLACK,
}
_LOCK = threading.Lock()


@contextmanager
def _drawing() -> Iterator[None]:
    with _LOCK, matplotlib.rc_context(_RC):
        yield


def _save(figure: Figure, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    out = io.BytesIO()
    if fmt == "svg":
        # No date: the same report gives the same bytes.
        figure.savefig(out, format="svg", metadata={"Date": None})
    else:
        figure.savefig(out, format="png", dpi=PNG_DPI)
    return out.getvalue()


def _margins(figure: Figure, left: float, bottom: float) -> None:
    """Fixed margins, in inches: matplotlib's constrained layout found them for us but
    doubled the time a chart takes to draw."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(
        left=left / width, right=1 - 0.35 / width, top=1 - 0.15 / height, bottom=bottom / height
    )


def _rate_percent(count: Count) -> float:
    """A point of a line: NaN (a gap) where the group had no one."""
    rate = count.rate
    return math.nan if rate is None else 100 * rate


def _month_labels(days: Sequence[date]) -> list[str]:
    """Jan, Feb, ...; the year under the first month and under each January."""
    return [
        f"{day:%b}\n{day:%Y}" if i == 0 or day.month == 1 else f"{day:%b}"
        for i, day in enumerate(days)
    ]


def _percent_axis(axis: Any) -> None:
    axis.set_major_formatter(PercentFormatter(decimals=0))
    axis.set_major_locator(MultipleLocator(20))


def trend_chart(report: CommitteeReport, fmt: str) -> bytes:
    """Completion over the report's 13 trend points: all people, councillors and staff, and
    the target. A group with no one in it on every day gets no line."""
    days = [point.day for point in report.trend]
    with _drawing():
        figure = Figure(figsize=(WIDTH_INCHES, 3.6))
        ax = figure.add_subplot()
        xs = list(range(len(days)))
        for label, attribute, colour, style, marker in TREND_LINES:
            ys = [_rate_percent(getattr(point, attribute)) for point in report.trend]
            if all(math.isnan(y) for y in ys):
                continue
            ax.plot(
                xs,
                ys,
                label=label,
                color=colour,
                linestyle=style,
                linewidth=1.8,
                marker=marker,
                markersize=5,
                markerfacecolor="white" if attribute != "overall" else colour,
            )
        ax.axhline(
            report.target_percent, label=f"Target ({report.target_percent}%)", **TARGET_STYLE
        )
        ax.set_ylim(0, 100)
        _percent_axis(ax.yaxis)
        ax.set_ylabel("Completed and in date")
        ax.set_xticks(xs, _month_labels(days))
        ax.set_xlim(-0.4, len(days) - 0.6)
        ax.grid(axis="y", color="#b1b4b6", linewidth=0.5)
        ax.spines[["top", "right"]].set_visible(False)
        figure.legend(loc="lower center", ncols=4, frameon=False)
        _margins(figure, left=0.85, bottom=0.95)
        return _save(figure, fmt)


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, 28, max_lines=2, placeholder="...")) or label


def directorate_chart(report: CommitteeReport, fmt: str) -> bytes:
    """Each directorate's completion at the start of the period (hatched) and now (solid),
    first directorate at the top, with the target as a dashed line."""
    lines = report.by_directorate
    height = 1.3 + 0.42 * max(len(lines), 1)
    with _drawing():
        figure = Figure(figsize=(WIDTH_INCHES, height))
        ax = figure.add_subplot()
        bar = 0.38
        ys = list(range(len(lines)))
        starts = [_rate_percent(line.start) for line in lines]
        nows = [_rate_percent(line.now) for line in lines]
        before = ax.barh(
            [y - bar / 2 for y in ys],
            [0 if math.isnan(v) else v for v in starts],
            height=bar,
            color="white",
            edgecolor=BLACK,
            hatch="///",
            linewidth=0.8,
            label=f"At the start of the period ({long_date(report.period_start)})",
        )
        after = ax.barh(
            [y + bar / 2 for y in ys],
            [0 if math.isnan(v) else v for v in nows],
            height=bar,
            color=BLUE,
            edgecolor=BLACK,
            linewidth=0.8,
            label=f"Now ({long_date(report.day)})",
        )
        for y, line in zip(ys, lines, strict=True):
            if line.now.rate is None and line.start.rate is None:
                ax.text(1, y, "No people", va="center", fontsize=8, color=BLACK)
        target = ax.axvline(
            report.target_percent, label=f"Target ({report.target_percent}%)", **TARGET_STYLE
        )
        ax.set_yticks(ys, [_wrap(line.label) for line in lines])
        if not lines:  # no one was counted on either day: an empty chart that says so
            ax.text(50, 0, "No people", ha="center", va="center", fontsize=8, color=BLACK)
        ax.set_ylim(max(len(lines), 1) - 0.5, -0.5)  # the first directorate at the top
        ax.set_xlim(0, 100)
        _percent_axis(ax.xaxis)
        ax.set_xlabel("Completed and in date")
        ax.grid(axis="x", color="#b1b4b6", linewidth=0.5)
        ax.spines[["top", "right"]].set_visible(False)
        figure.legend(handles=[before, after, target], loc="lower center", ncols=2, frameon=False)
        # Room for two lines of 28 characters (_wrap) at the left, the legend below.
        _margins(figure, left=2.0, bottom=0.95)
        return _save(figure, fmt)


def _group_now(label: str, count: Count) -> str:
    return f"{label} {percent(count.rate)}" if count.people else f"no {label}"


def trend_alt(report: CommitteeReport) -> str:
    """One sentence: overall completion at the first and last trend points, councillors and
    staff now, and the target."""
    first, last = report.trend[0], report.trend[-1]
    before, now = first.overall.rate, last.overall.rate
    d1, d2 = long_date(first.day), long_date(last.day)
    if before is None and now is None:
        opening = f"No one was counted between {d1} and {d2}"
    elif before is None:
        opening = f"Completion was {percent(now)} on {d2} (no one was counted on {d1})"
    elif now is None:
        opening = f"Completion was {percent(before)} on {d1}; no one was counted on {d2}"
    elif percent(before) == percent(now):
        opening = f"Completion stayed at {percent(now)} from {d1} to {d2}"
    else:
        verb = "rose" if now > before else "fell"
        opening = f"Completion {verb} from {percent(before)} on {d1} to {percent(now)} on {d2}"
    groups = f"{_group_now('councillors', last.councillors)}, {_group_now('staff', last.staff)}"
    return f"{opening}; {groups}; target {report.target_percent}%."


def _directorate_now(line: Line) -> str:
    return f"{line.label} {percent(line.now.rate)} ({percent(line.start.rate)} at the start)"


def directorate_alt(report: CommitteeReport) -> str:
    """Two sentences: how many directorates are at the target, the highest and the lowest
    now, and which have no people."""
    lines = report.by_directorate
    counted = [line for line in lines if line.now.rate is not None]
    empty = [line.label for line in lines if line.now.rate is None]
    target = report.target_percent
    if not counted:
        text = f"No directorate has anyone in it on {long_date(report.day)}; target {target}%."
    else:
        # Exactly, as committee.forecast decides "Target reached": 94.5% is not 95%, though
        # it prints as 95%.
        at_target = sum(
            1 for line in counted if 100 * line.now.completed >= target * line.now.people
        )
        ranked = sorted(counted, key=lambda line: line.now.rate or 0.0)
        word = "directorate" if len(counted) == 1 else "directorates"
        text = f"{at_target} of {len(counted)} {word} at or above the {target}% target"
        if len(counted) == 1:
            text += f": {_directorate_now(ranked[0])}."
        else:
            text += (
                f"; highest {_directorate_now(ranked[-1])}, lowest {_directorate_now(ranked[0])}."
            )
    if empty:
        text += f" No people in: {', '.join(empty)}."
    return text
