"""summary.md: complete when it fits, collapsed (never cut mid-table) when it would not fit a comment."""

from __future__ import annotations

import copy
import json
import re

import pytest
from conftest import BASELINE, FIXTURES, POLICY

from gate.judge.pipeline import judge
from gate.judge.verdict import unjudgeable_verdict
from gate.report.render import COMMENT_LIMIT, render_summary


@pytest.fixture(scope="module")
def regression_verdict():
    return judge(str(FIXTURES / "regression"), "smoke", str(BASELINE), str(POLICY))


def _tables(markdown: str) -> list[list[str]]:
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def _assert_intact(markdown: str) -> None:
    for table in _tables(markdown):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
        assert len(widths) == 1, f"a table lost cells: {table[:3]}"
        assert len(table) >= 2 and set(table[1]) <= set("|-: ")
    assert markdown.count("<details>") == markdown.count("</details>")
    assert markdown.count("```") % 2 == 0


def test_a_small_verdict_renders_everything(regression_verdict):
    summary = render_summary(regression_verdict)
    _assert_intact(summary)
    assert summary.splitlines()[0] == "<!-- voiceassist-perf-gate:smoke -->"
    assert "FAIL: 1 regression" in summary.splitlines()[1]
    for section in ("### Endpoints", "### Findings", "### Custom metrics", "```mermaid", "xychart-beta",
                    "<details><summary>All metrics per endpoint</summary>", "How this verdict was reached"):
        assert section in summary
    chart = summary.split("```mermaid", 1)[1].split("```", 1)[0]
    labels = re.search(r"x-axis \[(.*)\]", chart).group(1).count('", "') + 1
    assert all(line.count(",") + 1 == labels for line in re.findall(r"(?:bar|line) \[(.*)\]", chart))


def test_a_huge_verdict_collapses_detail_to_fit_a_comment(regression_verdict):
    huge = copy.deepcopy(regression_verdict)
    template = huge["endpoints"][0]
    huge["endpoints"] = []
    for number in range(600):
        endpoint = copy.deepcopy(template)
        endpoint["endpoint"] = f"GET /api/generated/{number}/" + "x" * 40
        endpoint["status"] = "fail" if number % 50 == 0 else "pass"
        endpoint["errors"] = [{"error": f"HTTPError('50{number % 10} for url ... {'y' * 80}')", "occurrences": number,
                               "new": number % 7 == 0}]
        huge["endpoints"].append(endpoint)
    assert len(json.dumps(huge)) > COMMENT_LIMIT
    summary = render_summary(huge)
    assert len(summary) <= COMMENT_LIMIT
    _assert_intact(summary)
    assert "FAIL: 1 regression" in summary  # the headline survives
    assert "GET /api/generated/0/" in summary  # failing endpoints stay listed
    assert "endpoints that pass are not listed" in summary
    assert "less frequent error types are in verdict.json" in summary


def test_an_unjudgeable_verdict_renders_its_reason():
    verdict = unjudgeable_verdict("results/smoke recorded zero requests", "smoke")
    summary = render_summary(verdict)
    assert "CANNOT JUDGE" in summary and "zero requests" in summary
    _assert_intact(summary)
