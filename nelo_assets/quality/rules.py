"""The data-quality rules behind the asset checks: plain functions over DuckDB views, no Dagster.

Each rule reads temp views that the caller bound (sql_models.bind_parquet) and returns an
Outcome whose message names the offending keys or values, so an alert says what to fix.
Generic rules template their SQL by view and column names, which come from code, never from
data; a rule's one-off query lives in sql/checks/<rule>.sql. Values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from nelo_assets.storage.sql_models import load_sql
from nelo_assets.transform.business_rules import SESSION_GAP_SECONDS

EXAMPLES = 5  # offending rows quoted in a message; the metadata carries the full count


@dataclass(frozen=True)
class Outcome:
    passed: bool
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _text(column: str) -> str:
    """A column as quoted text for messages, NULL shown as NULL."""
    return f"coalesce('''' || {_q(column)}::varchar || '''', 'NULL')"


def _problems(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[Any],
    what: str,
    ok: str,
    **metadata: Any,
) -> Outcome:
    """Run a query returning one text column `problem` per violation and summarise it."""
    # The newline ends a trailing line comment of a query read from a file before the ")".
    total = con.execute(f"select count(*) from ({query}\n)", list(params)).fetchone()[0]
    if total == 0:
        return Outcome(True, ok, {"violations": 0, **metadata})
    examples = [
        row[0]
        for row in con.execute(
            f"select problem from ({query}\n) order by problem limit {EXAMPLES}", list(params)
        ).fetchall()
    ]
    more = f" (and {total - len(examples)} more)" if total > len(examples) else ""
    return Outcome(
        False,
        f"{total} {what}: " + "; ".join(examples) + more,
        {"violations": total, "examples": "\n".join(examples), **metadata},
    )


def _rows(con: duckdb.DuckDBPyConnection, view: str) -> int:
    return con.execute(f"select count(*) from {_q(view)}").fetchone()[0]


def unique_key(con: duckdb.DuckDBPyConnection, view: str, key: Sequence[str]) -> Outcome:
    """The key columns are never NULL and identify one row."""
    label = " / ".join(key)
    shown = " || ' / ' || ".join(_text(c) for c in key)
    any_null = " or ".join(f"{_q(c)} is null" for c in key)
    cols = ", ".join(_q(c) for c in key)
    query = f"""
        select 'NULL in (' || '{label}' || ')' as problem from {_q(view)} where {any_null}
        union all
        select {shown} || ' appears ' || count(*) || ' times' as problem
        from {_q(view)} where not ({any_null}) group by {cols} having count(*) > 1
    """
    rows = _rows(con, view)
    return _problems(
        con, query, [], f"{view} key violations on ({label})", f"{rows} rows, ({label}) unique"
    )


def not_null(
    con: duckdb.DuckDBPyConnection, view: str, columns: Sequence[str], key: str
) -> Outcome:
    """Required columns have a value on every row."""
    query = " union all ".join(
        f"select {_text(key)} || ': {c} is NULL' as problem from {_q(view)} where {_q(c)} is null"
        for c in columns
    )
    return _problems(
        con, query, [], f"{view} rows missing a required value", f"{', '.join(columns)} all set"
    )


def in_partition(
    con: duckdb.DuckDBPyConnection,
    view: str,
    event_date: date,
    key: str,
    timezone: str | None = None,
) -> Outcome:
    """Every row of partition D belongs to D: its event_date is D and, when the table has an
    event_timestamp (pass the business time zone), that time's local date is D too. The
    timestamp test still sees a mis-routed row when readers take event_date from the path."""
    local_date = "timezone(?, event_timestamp)::date" if timezone else "event_date"
    query = f"""
        select {_text(key)} || ' has event_date ' || coalesce(event_date::varchar, 'NULL')
            || ', local date of its event_timestamp ' || coalesce({local_date}::varchar, 'NULL')
            as problem
        from {_q(view)}
        where event_date is distinct from ? or {local_date} is distinct from ?
    """
    params = [timezone, event_date, timezone, event_date] if timezone else [event_date] * 2
    return _problems(
        con, query, params, f"{view} rows outside partition {event_date}", "all rows in it"
    )


def accepted_values(
    con: duckdb.DuckDBPyConnection, view: str, column: str, accepted: Sequence[str]
) -> Outcome:
    """`column` only holds the accepted values."""
    query = f"""
        select '{column} = ' || {_text(column)} || ' (' || count(*) || ' rows)' as problem
        from {_q(view)} where not coalesce(list_contains(?, {_q(column)}), false)
        group by {_q(column)}
    """
    return _problems(
        con,
        query,
        [list(accepted)],
        f"unaccepted {view}.{column} values",
        f"{column} in {', '.join(accepted)}",
    )


def orphans(
    con: duckdb.DuckDBPyConnection, child: str, parent: str, column: str, child_key: str
) -> Outcome:
    """Every child row's `column` exists in the parent (referential integrity)."""
    query = f"""
        select {_text(child_key)} || ' -> {column} ' || {_text(column)} || ' not in {parent}'
            as problem
        from {_q(child)} as c
        where not exists (select 1 from {_q(parent)} as p where p.{_q(column)} = c.{_q(column)})
    """
    return _problems(
        con, query, [], f"{child} rows without a {parent} parent", f"every {column} in {parent}"
    )


def same_keys(
    con: duckdb.DuckDBPyConnection, left: str, left_key: str, right: str, right_key: str
) -> Outcome:
    """Both views hold exactly the same set of keys (one layer reconciles with the next)."""
    query = f"""
        select {_text("k")} || ' in {left}, missing from {right}' as problem from (
            select {_q(left_key)} as k from {_q(left)}
            except select {_q(right_key)} from {_q(right)}
        )
        union all
        select {_text("k")} || ' in {right}, not in {left}' as problem from (
            select {_q(right_key)} as k from {_q(right)}
            except select {_q(left_key)} from {_q(left)}
        )
    """
    counts = {f"{left}_rows": _rows(con, left), f"{right}_rows": _rows(con, right)}
    ok = f"{left} {counts[f'{left}_rows']} rows = {right} {counts[f'{right}_rows']} rows"
    return _problems(con, query, [], f"keys differ between {left} and {right}", ok, **counts)


def _out_of_range(
    con: duckdb.DuckDBPyConnection,
    view: str,
    columns: Sequence[str],
    key: Sequence[str],
    condition: str,
    what: str,
    ok: str,
) -> Outcome:
    shown = " || ' / ' || ".join(_text(c) for c in key)
    query = " union all ".join(
        f"select {shown} || ': {c} = ' || {_q(c)}::varchar as problem "
        f"from {_q(view)} where {condition.format(c=_q(c))}"
        for c in columns
    )
    return _problems(con, query, [], what, ok, rows=_rows(con, view))


def negative_money(
    con: duckdb.DuckDBPyConnection, view: str, columns: Sequence[str], key: Sequence[str]
) -> Outcome:
    """Money is never negative (docs/events.md: price and discount >= 0; sums of those)."""
    return _out_of_range(
        con, view, columns, key, "{c} < 0", f"negative money in {view}", "no negative money"
    )


def rates_over_the_day(
    con: duckdb.DuckDBPyConnection,
    view: str,
    rates: Sequence[tuple[str, str, str]],
) -> Outcome:
    """Each (rate, numerator, denominator) over the whole day at most 1, and no rate negative.

    One row above 1 is normal (docs/tables.md, Conventions: a buy-now purchase without a product view, a click
    on a list viewed the day before) and is only counted, as `rows_above_1`. Over a whole day
    the numerator's users or items are far fewer than the denominator's unless the
    denominator's events stopped arriving (an app build that no longer sends them), and a
    negative rate is a defect in the build.
    """
    metadata: dict[str, Any] = {"rows": _rows(con, view)}
    problems = []
    for rate, numerator, denominator in rates:
        above, negative, top, bottom = con.execute(
            f"select count(*) filter ({_q(rate)} > 1), count(*) filter ({_q(rate)} < 0), "
            f"coalesce(sum({_q(numerator)}), 0), coalesce(sum({_q(denominator)}), 0) "
            f"from {_q(view)}"
        ).fetchone()
        day_rate = top / bottom if bottom else None
        metadata[f"{rate}_rows_above_1"] = above
        if day_rate is not None:
            metadata[f"{rate}_over_the_day"] = round(day_rate, 4)
        if day_rate is not None and day_rate > 1:
            problems.append(
                f"{rate} over the day is {day_rate:.2f} ({numerator} {top} / {denominator} "
                f"{bottom}): are {denominator} events still arriving?"
            )
        if negative:
            problems.append(f"{rate} negative on {negative} rows")
    metadata["violations"] = len(problems)
    metadata["rows_above_1"] = sum(v for k, v in metadata.items() if k.endswith("_rows_above_1"))
    if problems:
        return Outcome(False, "; ".join(problems), metadata)
    counted = f"{metadata['rows_above_1']} rows with a rate above 1 (allowed)"
    return Outcome(True, f"every rate at most 1 over the day; {counted}", metadata)


def _check_sql(rule: str) -> str:
    return load_sql("checks", rule)


def silver_reconciliation(con: duckdb.DuckDBPyConnection) -> Outcome:
    """bronze (deduped) = silver_events + silver quarantine + duplicates removed, row for row.

    Views: bronze_events (the bronze read model), silver_events, silver_quarantine.
    """
    con.execute(
        f"create or replace temp table bronze_classified as {_check_sql('bronze_classified')}"
    )
    bronze, quarantined, duplicates = con.execute("""
        select count(*), count(*) filter (quarantined),
            count(*) filter (not kept and not quarantined and copy_kept)
        from bronze_classified
    """).fetchone()
    silver = _rows(con, "silver_events")
    counts = {
        "bronze_rows": bronze,
        "silver_events": silver,
        "quarantined": quarantined,
        "duplicates_removed": duplicates,
    }
    ok = f"bronze {bronze} = silver {silver} + quarantine {quarantined} + duplicates {duplicates}"
    return _problems(
        con,
        _check_sql("silver_reconciliation"),
        [],
        "rows lost or invented between bronze and silver",
        ok,
        **counts,
    )


def quarantine_rate(con: duckdb.DuckDBPyConnection, max_rate: float) -> Outcome:
    """Share of the partition's bronze rows that silver quarantined, against a threshold.

    Views: bronze_events, silver_quarantine.
    """
    bronze = _rows(con, "bronze_events")
    by_reason = con.execute(_check_sql("quarantine_rate")).fetchall()
    quarantined = sum(n for _, n in by_reason)
    rate = quarantined / bronze if bronze else 0.0
    reasons = ", ".join(f"{reason} {n}" for reason, n in by_reason) or "none"
    message = (
        f"quarantine rate {rate:.1%} ({quarantined} of {bronze} bronze rows), "
        f"limit {max_rate:.1%}; by reason: {reasons}"
    )
    metadata = {"quarantine_rate": rate, "quarantined": quarantined, "bronze_rows": bronze}
    return Outcome(rate <= max_rate, message, metadata)


def unknown_event_names(con: duckdb.DuckDBPyConnection, known: Sequence[str]) -> Outcome:
    """Event names outside the known list (valid and kept; WARN so a typo is seen early)."""
    return _problems(
        con,
        _check_sql("unknown_event_names"),
        [sorted(known)],
        "unknown event_name values",
        "every event_name known",
    )


def unknown_platform_share(con: duckdb.DuckDBPyConnection, max_share: float) -> Outcome:
    """Share of events whose platform became UNKNOWN (missing or unrecognised), vs a threshold."""
    total, unknown = con.execute(_check_sql("unknown_platform_share")).fetchone()
    share = unknown / total if total else 0.0
    return Outcome(
        share <= max_share,
        f"platform UNKNOWN on {share:.1%} of events ({unknown} of {total}), limit {max_share:.1%}",
        {"unknown_platform_share": share, "unknown_platform_events": unknown},
    )


def cross_partition_duplicates(con: duckdb.DuckDBPyConnection, event_date: date) -> Outcome:
    """event_ids of partition D that also sit in another partition (copies that disagree on the
    time, docs/events.md, Duplicates: both kept, reported). View: silver_event_ids (event_id,
    event_date) over D and its neighbours."""
    return _problems(
        con,
        _check_sql("cross_partition_duplicates"),
        [event_date],
        "event_ids kept in two partitions",
        "no event_id in two dates",
    )


def scd2_integrity(con: duckdb.DuckDBPyConnection) -> Outcome:
    """dim_items: one current version per item, is_current iff valid_to is NULL, each version
    ends where the next begins (no overlap, no gap), and valid_from < valid_to."""
    return _problems(
        con, _check_sql("scd2_integrity"), [], "SCD2 violations in dim_items", "SCD2 chains intact"
    )


def session_violations(con: duckdb.DuckDBPyConnection, event_date: date) -> Outcome:
    """The session rule (SESSION_GAP_SECONDS) holds for partition D's events within D-1 .. D.

    View: sessions_window (fact_events of D-1 and D); sql/checks/session_violations.sql says
    which splits the rule allows (docs/tables.md, fact_events).
    """
    return _problems(
        con,
        _check_sql("session_violations"),
        [event_date, SESSION_GAP_SECONDS],
        "session rule violations",
        "sessions consistent",
    )
