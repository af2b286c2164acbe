"""Untrusted text in the summary is shown, never obeyed: every string of a verdict (endpoint names,
error bodies from the target, messages, paths, the profile) replaced by hostile strings, and the
summary rendered by cmark-gfm (GitHub's own markdown) has the same elements as with harmless
strings, one HTML comment (the sticky marker), no link, no image, no @mention and tables whose rows
keep their cell count; and the escaping functions keep the text a reader sees."""

from __future__ import annotations

import copy
import re

import pytest
from conftest import BASELINE, FIXTURES, POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.judge.pipeline import judge
from gate.report import markdown
from gate.report.render import render_summary
from tests.rendered_markdown import ATTACKS, hostile_strings, render, visible

EVERYTHING = 10**9  # render at the most detailed level: the structure must not depend on the text's length


@pytest.fixture(scope="module")
def regression_verdict():
    verdict = judge(str(FIXTURES / "regression"), "smoke", str(BASELINE), str(POLICY))
    verdict["endpoints"][1]["errors"] = [{"error": "HTTPError('500 Server Error')", "occurrences": 3, "new": True}]
    verdict["problems"] = ["first problem", "second problem"]  # the problem list is rendered too
    return verdict


def _replace_strings(document, strings):
    """A copy of `document` with every string (and every counter and fingerprint name, numbered to
    stay distinct) taken in turn from `strings`."""
    counter = iter(range(10**9))

    def walk(value, key=None):
        if isinstance(value, str):
            return strings[next(counter) % len(strings)]
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            renamed = key in ("counters", "fingerprint")
            return {(f"{strings[next(counter) % len(strings)]} {n}" if renamed else name): walk(item, name)
                    for n, (name, item) in enumerate(value.items())}
        return value

    return walk(copy.deepcopy(document))


def assert_renders_as_text(hostile_summary: str, harmless_summary: str) -> None:
    hostile, harmless = render(hostile_summary), render(harmless_summary)
    assert hostile.tags == harmless.tags, "the hostile strings changed the rendered elements"
    assert hostile.cells == harmless.cells
    assert all(len(set(rows)) == 1 for rows in hostile.cells), "a table row lost or gained cells"
    assert len(hostile.comments) == 1 and hostile.comments[0].strip().startswith("voiceassist-perf-gate:")
    assert hostile_summary.count("<!--") == 1, "a second sticky marker"
    assert "a" not in hostile.tags and "img" not in hostile.tags
    assert hostile.mentions() == []


def test_every_known_attack_in_every_string_of_a_verdict_renders_as_text(regression_verdict):
    for offset in range(len(ATTACKS)):  # each attack lands in every kind of slot across the offsets
        strings = ATTACKS[offset:] + ATTACKS[:offset]
        hostile = render_summary(_replace_strings(regression_verdict, strings), limit=EVERYTHING)
        harmless = render_summary(_replace_strings(regression_verdict, [f"x{n}" for n in range(len(strings))]),
                                  limit=EVERYTHING)
        assert_renders_as_text(hostile, harmless)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(strings=st.lists(hostile_strings(), min_size=1, max_size=7))
def test_hostile_strings_anywhere_in_a_verdict_render_as_text(regression_verdict, strings):
    hostile = render_summary(_replace_strings(regression_verdict, strings), limit=EVERYTHING)
    harmless = render_summary(_replace_strings(regression_verdict, [f"x{n}" for n in range(len(strings))]),
                              limit=EVERYTHING)
    assert_renders_as_text(hostile, harmless)


def test_an_error_body_from_the_target_is_shown_as_the_text_it_is(regression_verdict):
    body = "<img src=x onerror=alert(1)> @everyone see [docs](https://evil.example) `x` | y"
    verdict = copy.deepcopy(regression_verdict)
    verdict["endpoints"][1]["errors"] = [{"error": body, "occurrences": 3, "new": True}]
    rendered = render(render_summary(verdict))
    assert visible(body) in visible(rendered.text)
    assert "img" not in rendered.tags and "a" not in rendered.tags and rendered.mentions() == []


# -- the escaping functions on their own -----------------------------------------------------------


TEMPLATES = ["before {} after", "> {}", "- {}", "## {}", "| a | b |\n|---|---|\n| {} | z |"]


@settings(max_examples=300, deadline=None)
@given(value=hostile_strings())
def test_text_shows_exactly_what_it_was_given(value):
    if not visible(value):
        return  # nothing to show: "> " is an empty quote, "> MARK" a quoted paragraph
    for template in TEMPLATES:
        rendered, harmless = render(template.format(markdown.text(value))), render(template.format("MARK"))
        assert rendered.tags == harmless.tags, template
        assert visible(rendered.text) == visible(harmless.text.replace("MARK", value)), template
        assert rendered.mentions() == [] and rendered.comments == []


def shown_in_code(value: str) -> str:
    """What a code span must show of `value`: line breaks and other control characters as spaces,
    bidirectional overrides dropped, `<!--` broken by a word joiner (the rules gate/report/markdown.py states)."""
    value = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", value)
    value = re.sub(r"[\u202a-\u202e\u2066-\u2069]", "", value)
    return value.replace("<!--", "<" + markdown.WORD_JOINER + "!--")


@settings(max_examples=300, deadline=None)
@given(value=hostile_strings())
def test_code_is_one_code_span_holding_exactly_its_text(value):
    plain = shown_in_code(value)
    for template, table in (("see {} here", False), ("| a | b |\n|---|---|\n| {} | z |", True)):
        rendered = render(template.format(markdown.code(value, table=table)))
        assert rendered.codes == ([plain] if plain else []), template
        if plain:
            assert rendered.tags == render(template.format("`x`")).tags


def test_the_marker_word_cannot_end_its_comment():
    assert markdown.comment_token("smoke") == "smoke"
    assert markdown.comment_token("x --> <img>") == "x_--___img_"


def test_a_chart_label_cannot_leave_its_quotes_or_its_fence():
    label = markdown.mermaid_label('a"]\n```\n%%{init: {"theme": "dark"}}%% `b` [id]')
    assert not set(label) & set('"[]`{}%\n')
    assert label.startswith("a'") and "'id'" in label
