"""What GitHub would make of a markdown text, for the tests: rendered by cmark-gfm (GitHub's own
fork of cmark, the `cmarkgfm` package) with its extensions (tables, autolinks, strikethrough,
footnotes) and raw HTML passed through, as GitHub does before its sanitizer, then read back as a tree:
which elements, which HTML comments, which text outside code (where GitHub turns @name into a
mention and #1 into a reference).

Also the hostile strings those tests feed in: known attacks on a markdown comment and a hypothesis
strategy for more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import ClassVar

import cmarkgfm
from cmarkgfm.cmark import Options
from hypothesis import strategies as st

from gate.report.markdown import WORD_JOINER

ATTACKS = [
    "<img src=x onerror=alert(1)>",
    "</details><details open><summary>pwned</summary>",
    "<script>alert(1)</script>",
    '<a href="https://evil.example">click</a>',
    "<svg/onload=alert(1)>",
    "[x](javascript:alert(1))",
    "![tracker](https://evil.example/pixel.png)",
    "[^1] [ ] [x] [ref]: https://evil.example",
    "@everyone please look",
    "cc @octo-org/security-team",
    "&#64;everyone &lt;img&gt; &amp;",
    "`",
    "``",
    "```",
    "a ` b `` c ``` d",
    "````mermaid\ngraph TD; A-->B",
    "|",
    "a | b | c",
    "\\|",
    "\\\\|\\",
    "line one\r\nline two",
    "\n## injected heading\n",
    "\n\n| a | b |\n|---|---|\n| c | d |",
    "<!-- voiceassist-perf-gate:smoke -->",
    "--> <!--",
    "http://evil.example/x",
    "see www.evil.example now",
    "<https://evil.example>",
    "mail me: someone@evil.example",
    "fixes #1 and GH-2",
    "*bold* **strong** _em_ __u__ ~~strike~~ ~one~",
    "$x^2$ and $$\\sum$$",
    "- list item",
    "1. ordered",
    "> quoted",
    "# heading",
    "===",
    "---",
    "    indented code",
    "\u202eevil\u202c",
    "nul\x00byte and \x1b[31mansi",
    "trailing backslash \\",
    ":warning: :+1:",
]

# Characters that mean something to markdown, HTML or GitHub, weighted up against the rest.
HOSTILE_ALPHABET = "<>/&#;@`*_[]()!|\\~$:=.-+ \n\r\t\"'{}%^?wh tp0123456789abcXYZ"


def hostile_strings(min_size: int = 1) -> st.SearchStrategy[str]:
    fragments = st.one_of(st.sampled_from(ATTACKS), st.text(alphabet=HOSTILE_ALPHABET, max_size=12),
                          st.text(max_size=6))
    return st.lists(fragments, min_size=1, max_size=4).map("".join).filter(lambda s: len(s) >= min_size)


@dataclass
class Rendered:
    html: str
    tags: list[str] = field(default_factory=list)  # start tags in document order
    comments: list[str] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)  # text outside <code>, <pre>, <a>
    codes: list[str] = field(default_factory=list)  # the text of each inline <code>
    cells: list[list[int]] = field(default_factory=list)  # per table: the cell count of each row

    @property
    def text(self) -> str:
        return "".join(self.prose)

    def mentions(self) -> list[str]:
        """What GitHub would link in the prose: @name mentions, #1 references, bare URLs."""
        prose = self.text
        return (re.findall(r"@[A-Za-z0-9]", prose) + re.findall(r"#[0-9]", prose)
                + re.findall(r"(?i)www\.|://", prose))


class _Reader(HTMLParser):
    VOID: ClassVar[set[str]] = {"br", "hr", "img", "input", "meta", "link", "source", "wbr", "area", "base", "col", "embed"}

    def __init__(self, rendered: Rendered):
        super().__init__(convert_charrefs=True)
        self.rendered = rendered
        self.open: list[str] = []
        self.code: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.rendered.tags.append(tag)
        if tag == "table":
            self.rendered.cells.append([])
        elif tag == "tr" and self.rendered.cells:
            self.rendered.cells[-1].append(0)
        elif tag in ("td", "th") and self.rendered.cells and self.rendered.cells[-1]:
            self.rendered.cells[-1][-1] += 1
        if tag == "code" and "pre" not in self.open:
            self.code = []
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass
        if tag == "code" and self.code is not None:
            self.rendered.codes.append("".join(self.code))
            self.code = None

    def handle_data(self, data):
        if self.code is not None:
            self.code.append(data)
        elif not {"pre", "a", "code"} & set(self.open):
            self.rendered.prose.append(data)

    def handle_comment(self, data):
        self.rendered.comments.append(data)


def render(markdown: str) -> Rendered:
    options = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=options)
    rendered = Rendered(html)
    reader = _Reader(rendered)
    reader.feed(html)
    reader.close()
    return rendered


def visible(value: str) -> str:
    """What a reader should see of `value` shown as text: one line, spacing collapsed, no invisible
    joiners or direction overrides."""
    value = re.sub(r"[\u202a-\u202e\u2066-\u2069" + WORD_JOINER + "]", "", value)
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", value).split())
