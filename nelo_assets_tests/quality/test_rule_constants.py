"""Each business rule and each check threshold default is written down once: the package's Python
and the SQL models are scanned (comments and docstrings stripped, so prose may name a rule) and
the rule's value may appear as a literal in its one defining file only. Everything else binds it
as a parameter or imports it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from nelo_assets.quality.thresholds import Thresholds
from nelo_assets.settings import DEFAULT_FRESHNESS_HOURS
from nelo_assets.transform import business_rules
from nelo_assets_tests.environment import REPO

BUSINESS_RULES = "nelo_assets/transform/business_rules.py"
THRESHOLDS = "nelo_assets/quality/thresholds.py"
SETTINGS = "nelo_assets/settings.py"  # bronze's freshness window is part of the graph
DEFAULTS = Thresholds()

# A number not glued to a word, a dot or a SQL parameter sign ($1, e2, 127.0.0.1 are not numbers).
NUMBER = re.compile(r"(?<![\w.$])\d[\d_]*(?:\.\d+)?(?![\w.])")


@dataclass(frozen=True)
class Code:
    """What a file says in code: the numbers it writes and its text, without comments."""

    numbers: tuple[float, ...]
    text: str


@dataclass(frozen=True)
class Rule:
    name: str
    value: float
    home: str  # the one file that may write the value
    # Only files whose code mentions one of these count (None: every file); a threshold's
    # value (0.05, 7) is too common a number to forbid everywhere.
    about: tuple[str, ...] | None = None
    # Other ways of writing the same value, as regular expressions over code.
    spellings: tuple[str, ...] = ()


RULES = [
    Rule(
        "session gap",
        business_rules.SESSION_GAP_SECONDS,
        BUSINESS_RULES,
        spellings=(r"\b30\s*\*\s*60\b", r"\binterval\s+'?30\s+minutes?\b", r"minutes\s*=\s*30\b"),
    ),
    Rule(
        "attribution window",
        business_rules.ATTRIBUTION_WINDOW_HOURS,
        BUSINESS_RULES,
        spellings=(
            r"\b7\s*\*\s*24\b",
            r"\b24\s*\*\s*7\b",
            r"\binterval\s+'?(7\s+days?|1\s+week)\b",
        ),
    ),
    Rule("max quarantine rate", DEFAULTS.max_quarantine_rate, THRESHOLDS, ("quarantine_rate",)),
    Rule(
        "max unknown platform share",
        DEFAULTS.max_unknown_platform_share,
        THRESHOLDS,
        ("unknown_platform",),
    ),
    Rule("freshness hours", DEFAULT_FRESHNESS_HOURS, SETTINGS, ("freshness",)),
    Rule(
        "duplicate window days", DEFAULTS.duplicate_window_days, THRESHOLDS, ("duplicate_window",)
    ),
]


def _numbers(text: str) -> list[float]:
    return [float(n.replace("_", "")) for n in NUMBER.findall(text)]


def sql_code(text: str) -> Code:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    code = "\n".join(line.split("--")[0] for line in text.splitlines())
    return Code(tuple(_numbers(code)), code)


def python_code(text: str) -> Code:
    """Numeric literals, and the code inside string literals (SQL held in Python counts too);
    comments are not in the syntax tree, docstrings are dropped."""
    tree = ast.parse(text)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    numbers: list[float] = []
    words: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            if isinstance(node.value, bool):
                continue
            if isinstance(node.value, int | float):
                numbers.append(node.value)
            elif isinstance(node.value, str):
                inner = sql_code(node.value)
                numbers.extend(inner.numbers)
                words.append(inner.text)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            words.append(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            words.append(node.name)
    return Code(tuple(numbers), "\n".join(words))


@cache
def scanned() -> dict[str, Code]:
    files = {
        **{p: python_code for p in (REPO / "nelo_assets").rglob("*.py")},
        **{p: sql_code for p in (REPO / "sql").rglob("*.sql")},
    }
    return {
        str(path.relative_to(REPO)): reader(path.read_text())
        for path, reader in sorted(files.items())
    }


def files_writing(rule: Rule, files: dict[str, Code]) -> Iterator[str]:
    for name, code in files.items():
        text = f"{Path(name).stem}\n{code.text}".lower()
        if rule.about is not None and not any(word in text for word in rule.about):
            continue
        spelled = any(re.search(s, code.text, re.IGNORECASE) for s in rule.spellings)
        if rule.value in code.numbers or spelled:
            yield name


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_each_rule_value_is_written_in_one_file(rule: Rule) -> None:
    writers = sorted(files_writing(rule, scanned()))
    assert writers == [rule.home], (
        f"the {rule.name} ({rule.value:g}) is written in {writers}; only {rule.home} may write "
        "it: import the constant there, or bind it into SQL as a parameter"
    )


def test_the_scan_sees_what_it_must() -> None:
    """The scanner finds a rule written in SQL or inside a Python string, ignores it in comments
    and docstrings, and reads the package's SQL and Python at all."""
    files = scanned()
    assert {"sql/gold/fact_events.sql", "nelo_assets/defs/silver/checks.py"} <= set(files)
    session = RULES[0]
    window = RULES[1]
    sql = sql_code("-- a gap of more than 1800 s\nselect 1 where gap > 1800 * 1000000")
    assert list(files_writing(session, {"x.sql": sql})) == ["x.sql"]
    assert not list(files_writing(session, {"x.sql": sql_code("-- 1800 s\nselect $1")}))
    python = python_code('"""1800 s."""\n# 1800\nQUERY = f"select * where gap > {1_800}"\n')
    assert python.numbers == (1800,)
    spelled = sql_code("select * where clicked_at >= at - interval '7 days'")
    assert list(files_writing(window, {"x.sql": spelled})) == ["x.sql"]
    rate = RULES[2]
    elsewhere = python_code("REFUND_RATE = 0.05\n")
    beside = python_code("def quarantine_rate(limit: float = 0.05) -> None: ...\n")
    assert list(files_writing(rate, {"a.py": elsewhere, "b.py": beside})) == ["b.py"]
