"""The dashboard's charts (Altair): labels never cut, bars in the table's order, a partial day
marked.

Streamlit's quick charts truncate axis and legend labels and sort categories by name; these
specs set the order explicitly and lift Vega-Lite's label limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

BAR_STEP = 24  # pixels per bar of a ranked chart: room for its label
GROUPED_BAR_STEP = 12  # pixels per bar within a group, plus one bar's gap between groups
# Streamlit fits the whole chart, axes and legend included, into the height it is given.
AXES_ROOM = 80
LEGEND_ROOM = 40
# Vega-Lite's labelLimit 0 means "no limit": a label is never cut with an ellipsis.
FULL_LABELS = {"labelLimit": 0}


# A legend below the chart wraps after this many entries: in one row, the entries past the
# chart's width would be cut off.
LEGEND_COLUMNS = 3


def _readable(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return chart.configure_axis(**FULL_LABELS).configure_legend(
        orient="bottom", columns=LEGEND_COLUMNS, **FULL_LABELS
    )


def ranked_bars(
    frame: pl.DataFrame, category: str, value: str, value_format: str = ",.0f"
) -> alt.TopLevelMixin:
    """One horizontal bar per row, top to bottom in the frame's order (the table's)."""
    order = frame[category].to_list()
    chart = (
        alt.Chart(frame.select(category, value))
        .mark_bar()
        .encode(
            # every bar keeps its label: Vega would hide every other one it finds too close
            y=alt.Y(f"{category}:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False)),
            x=alt.X(f"{value}:Q", axis=alt.Axis(format=value_format)),
            tooltip=[f"{category}:N", alt.Tooltip(f"{value}:Q", format=value_format)],
        )
        .properties(height=BAR_STEP * len(order) + AXES_ROOM)
    )
    return _readable(chart)


def grouped_bars(
    frame: pl.DataFrame, category: str, group: str, value: str, title: str
) -> alt.TopLevelMixin:
    """Horizontal bars of `value` per `category` (in the frame's order), one bar per `group`
    (in the frame's order too) beside each other, the groups named in a legend."""
    categories = frame[category].unique(maintain_order=True).to_list()
    groups = frame[group].unique(maintain_order=True).to_list()
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", sort=categories, title=None),
            yOffset=alt.YOffset(f"{group}:N", sort=groups),
            x=alt.X(f"{value}:Q", title=title),
            color=alt.Color(f"{group}:N", sort=groups, title=None),
            tooltip=[f"{category}:N", f"{group}:N", alt.Tooltip(f"{value}:Q", format=",")],
        )
        .properties(
            height=GROUPED_BAR_STEP * (len(groups) + 1) * len(categories) + AXES_ROOM + LEGEND_ROOM
        )
    )
    return _readable(chart)


def daily_lines(
    frame: pl.DataFrame, measures: Sequence[str], partial_day: str | None
) -> alt.TopLevelMixin:
    """Lines of `measures` per "Day" (one row per day, in order). A partial last day keeps its
    point, but the line to it is dashed and its label says so, so a drop there does not read
    as a fall."""
    long = frame.unpivot(on=list(measures), index="Day", variable_name="Measure")
    days = frame["Day"].to_list()
    base = alt.Chart(long).encode(
        x=alt.X("Day:O", sort=days, title=None, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("value:Q", title=None),
        color=alt.Color("Measure:N", sort=list(measures), title=None),
        tooltip=["Day:O", "Measure:N", alt.Tooltip("value:Q", format=",")],
    )
    if partial_day is None:
        return _readable(base.mark_line(point=True))
    complete = base.transform_filter(alt.datum.Day != partial_day).mark_line(point=True)
    last_two = alt.FieldOneOfPredicate(field="Day", oneOf=days[-2:])
    to_partial = base.transform_filter(last_two).mark_line(point=True, strokeDash=[4, 4])
    return _readable(alt.layer(complete, to_partial))


def daily_bars(frame: pl.DataFrame, value: str, partial_day: str | None) -> alt.TopLevelMixin:
    """One bar of `value` per "Day"; a partial last day is drawn faded, its label says so."""
    chart = (
        alt.Chart(frame.select("Day", value))
        .mark_bar()
        .encode(
            x=alt.X(
                "Day:O", sort=frame["Day"].to_list(), title=None, axis=alt.Axis(labelAngle=-45)
            ),
            y=alt.Y(f"{value}:Q", axis=alt.Axis(format=",.0f")),
            tooltip=["Day:O", alt.Tooltip(f"{value}:Q", format=",.2f")],
        )
    )
    if partial_day is not None:
        partial = alt.datum.Day == partial_day
        chart = chart.encode(opacity=alt.condition(partial, alt.value(0.35), alt.value(1.0)))
    return _readable(chart)


def lines_by(frame: pl.DataFrame, x: str, y: str, color: str, y_format: str) -> alt.TopLevelMixin:
    """Lines of `y` over a numeric `x`, one per `color` value, named in full in the legend."""
    chart = (
        alt.Chart(frame.select(x, y, color))
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:Q", axis=alt.Axis(tickMinStep=1)),
            # the heading above the chart names the measure; a vertical title stuck out at left
            y=alt.Y(f"{y}:Q", axis=alt.Axis(format=y_format), title=None),
            color=alt.Color(f"{color}:N", title=None),
            tooltip=[f"{color}:N", f"{x}:Q", alt.Tooltip(f"{y}:Q", format=y_format)],
        )
    )
    return _readable(chart)
