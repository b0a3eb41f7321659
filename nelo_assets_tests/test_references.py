"""The repository explains itself: every rule (`R5`), numbered section (`decisions §13`),
Markdown file (`docs/events.md`) and named section (`docs/events.md, Duplicates`) that a file
cites is a heading or a file of this repository."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

from nelo_assets_tests.environment import REPO

TEXT_SUFFIXES = {".py", ".sql", ".md", ".yaml", ".yml", ".toml", ".cfg", ".ipynb", ".json", ""}
# Written by `make bench` from bench/*.py, which the scan reads anyway; and this file's examples.
SKIPPED = {"bench/results.json", str(Path(__file__).relative_to(REPO))}

RULE = re.compile(r"(?<![\w$])R(\d+)\b")
SECTION = re.compile(r"§\s?(\d+)")
# `decisions §13`, `docs/decisions.md §4, §13`, `[decisions §14](docs/decisions.md)`.
NAMED_SECTIONS = re.compile(r"([\w-]+)(?:\.md)?`?\s+(§\d+(?:(?:,\s*|\s+and\s+)§\d+)*)")
# A Markdown file name; `MetadataValue.md(` is a call.
MARKDOWN_FILE = re.compile(r"(?<![\w.-])((?:\.\./|/)?(?:[\w-]+/)*[\w-]+\.md)\b(?!\()")
# `docs/events.md, Duplicates` or `docs/tables.md, fact_events` (a heading starts with that
# word), and `events.md#duplicates`.
DOC_SECTION = re.compile(r"([\w/-]+\.md)(?:, ([A-Z]\w*|[a-z]+_\w+)\b|#([\w-]+))")


@cache
def files() -> dict[str, str]:
    """Every text file of the repository (tracked, or new and not ignored) by its path."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {
        name: (REPO / name).read_text(encoding="utf-8")
        for name in sorted(set(listed) - SKIPPED)
        if Path(name).suffix in TEXT_SUFFIXES and (REPO / name).is_file()
    }


def headings(doc: str) -> list[str]:
    return re.findall(r"^#+ (.+?)\s*$", files()[doc], flags=re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w -]", "", heading.lower()).replace(" ", "-")


def resolve_file(cited: str, citing: str) -> str | None:
    """The repository path a cited Markdown file names: from the root, beside the citing file,
    or (a bare name) the one file of that name."""
    for candidate in (REPO / cited.lstrip("/"), REPO / Path(citing).parent / cited):
        normal = candidate.resolve()
        if normal.is_relative_to(REPO) and str(normal.relative_to(REPO)) in files():
            return str(normal.relative_to(REPO))
    if "/" not in cited:
        same_name = [name for name in files() if Path(name).name == cited]
        if len(same_name) == 1:
            return same_name[0]
    return None


def rule_headings() -> set[int]:
    return {int(n) for h in headings("docs/rules.md") for n in re.findall(r"^R(\d+)\b", h)}


def unresolved_rules() -> list[str]:
    rules = rule_headings()
    return [
        f"{name}: R{n}"
        for name, text in files().items()
        for n in RULE.findall(text)
        if int(n) not in rules
    ]


def unresolved_sections() -> list[str]:
    problems = []
    for name, text in files().items():
        for line in text.splitlines():
            covered = []
            for match in NAMED_SECTIONS.finditer(line):
                doc = resolve_file(f"{match.group(1)}.md", name)
                if doc is not None:
                    problems += check_numbers(name, doc, re.findall(r"§(\d+)", match.group(2)))
                    covered.append(match.span(2))
            for match in SECTION.finditer(line):
                if any(start <= match.start() < end for start, end in covered):
                    continue
                if name.startswith("docs/"):  # a doc citing its own sections
                    problems += check_numbers(name, name, [match.group(1)])
                else:
                    problems.append(f"{name}: §{match.group(1)} names no document: {line.strip()}")
    return problems


def check_numbers(citing: str, doc: str, numbers: list[str]) -> list[str]:
    numbered = {m.group(1) for h in headings(doc) if (m := re.match(r"(\d+)\.", h))}
    return [f"{citing}: {doc} has no §{n}" for n in numbers if n not in numbered]


def unresolved_files_and_headings() -> list[str]:
    problems = []
    for name, text in files().items():
        if "../shared" in text:
            problems.append(f"{name}: points outside the repository, to ../shared")
        for cited in MARKDOWN_FILE.findall(text):
            if resolve_file(cited, name) is None:
                problems.append(f"{name}: {cited} is not in the repository")
        for cited, section, anchor in DOC_SECTION.findall(text):
            target = resolve_file(cited, name)
            if target is None:
                continue
            if section and not any(re.match(rf"{section}\b", h) for h in headings(target)):
                problems.append(f"{name}: {cited} has no heading {section!r}")
            if anchor and anchor not in {slug(h) for h in headings(target)}:
                problems.append(f"{name}: {cited} has no heading #{anchor}")
    return problems


def test_every_cited_rule_is_a_heading_of_docs_rules() -> None:
    assert unresolved_rules() == []


def test_every_cited_section_number_is_a_numbered_heading_of_the_doc_it_names() -> None:
    assert unresolved_sections() == []


def test_every_cited_markdown_file_and_heading_is_in_the_repository() -> None:
    assert unresolved_files_and_headings() == []


def test_the_scan_reads_the_repository_and_sees_each_kind_of_reference() -> None:
    assert {"README.md", "docs/decisions.md", "sql/gold/fact_events.sql"} <= set(files())
    assert rule_headings() == set(range(1, 11))
    assert RULE.findall("redelivery (R2), not AR2 or $R1") == ["2"]
    line = "see docs/decisions.md §4, §13 and decisions §16; §7"
    assert [m.group(1) for m in NAMED_SECTIONS.finditer(line)] == ["decisions", "decisions"]
    assert MARKDOWN_FILE.findall("(../shared/contract/TABLES.md) MetadataValue.md(x)") == [
        "../shared/contract/TABLES.md"
    ]
    assert DOC_SECTION.findall("(docs/events.md, Event date and), [x](rules.md#r1-no-loss)") == [
        ("docs/events.md", "Event", ""),
        ("rules.md", "", "r1-no-loss"),
    ]
    assert slug("R1 No loss") == "r1-no-loss"
