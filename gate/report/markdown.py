"""Untrusted text in GitHub-flavoured markdown: what the run, the target or a fork's artifact wrote
(endpoint names, error bodies, messages, paths) shown as the literal text it is, never as markup.

    text(value)                 inline text: no HTML, emphasis, link, image, autolink, @mention,
                                #reference, math, block marker or line break survives
    code(value, table=False)    a code span no backtick run can close early (`table`: inside a table
                                row, where GFM splits cells on `|` before it sees code spans)
    mermaid_label(value)        a label inside a ```mermaid fence (no quote, bracket, fence or directive)
    comment_token(value)        a word that can sit inside an HTML comment (the sticky marker)

`python -m gate.report.markdown` escapes stdin as `text` (the action's shell steps use it).
"""

from __future__ import annotations

import re
import sys

# Invisible, and breaks what GitHub links after "@" (mentions, e-mail addresses), "#" (issue
# references), "www." and "://": none of them may be followed by it. U+2060 rather than the zero-width
# joiner (U+200D), which joins emoji into one glyph.
WORD_JOINER = "\u2060"

# C0 and C1 controls, DEL, and Unicode's line and paragraph separators become a space: a line break
# would start a new block (a heading, a list, the end of a table row or of a code fence).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional overrides and isolates reorder what a reader sees ("Trojan source"): dropped.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")

# Backslash-escaped wherever they are: CommonMark makes any escaped ASCII punctuation literal.
# \ first of all; ` code; * emphasis; [ ] links, images, footnotes, task boxes; ~ strikethrough;
# | table cells; $ GitHub's math; # headings and a heading's closing sequence.
_ALWAYS = frozenset("\\`*[]~|$#")
# As HTML entities: `<` starts every tag, comment and <autolink>, `&` every entity (`&#64;` would
# still become an @mention). Entities also hold inside a raw HTML block such as <summary>...</summary>,
# where backslash escapes do not.
_ENTITIES = {"<": "&lt;", "&": "&amp;"}
# What would open a block were the text at the start of a line ("> {reason}", "- {problem}").
_BLOCK_START = re.compile(r"^(?:[-+=>]|\d{1,9}[.)](?=\s|$))")
_LINKS = (
    re.compile(r"(?<![A-Za-z0-9])(www)(?=\.)", re.IGNORECASE),  # GFM's www. autolink
    re.compile(r"(:)(?=//)"),  # http://, https://, ftp:// and any other scheme
)


def _plain(value: object) -> str:
    return _BIDI.sub("", _CONTROL.sub(" ", str(value)))


def text(value: object) -> str:
    """`value` as literal inline markdown text, on one line (anything but a string is str()-ed)."""
    plain = _plain(value).strip()
    out = []
    for index, char in enumerate(plain):
        if char in _ALWAYS:
            out.append("\\" + char)
        elif char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif char == "_":
            # snake_case stays readable: between two letters or digits "_" can neither open nor
            # close emphasis (CommonMark's flanking rules), anywhere else it is escaped
            inside_word = 0 < index < len(plain) - 1 and plain[index - 1].isalnum() and plain[index + 1].isalnum()
            out.append("_" if inside_word else "\\_")
        elif char == "@":
            out.append("@" + WORD_JOINER)
        else:
            out.append(char)
    escaped = "".join(out)
    escaped = re.sub(r"(\\#)(?=[0-9A-Za-z])", lambda match: match.group(1) + WORD_JOINER, escaped)
    for pattern in _LINKS:
        escaped = pattern.sub(lambda match: match.group(1) + WORD_JOINER, escaped)
    if _BLOCK_START.match(escaped):
        if escaped[0] == ">":
            escaped = "&gt;" + escaped[1:]
        else:
            cut = re.match(r"\d*", escaped).end() or 0
            escaped = escaped[:cut] + "\\" + escaped[cut:]
    # nothing visible (empty, or only spaces): a word joiner keeps the line from being blank, so a
    # quote or a list item keeps its paragraph and the summary's structure does not depend on the text
    return escaped or WORD_JOINER


def code(value: object, table: bool = False) -> str:
    """`value` as one code span. Inside code nothing is markup (no HTML, entity, link or mention on
    GitHub), so only its delimiters need care: a fence one backtick longer than any run inside, padded
    with a space where the content starts or ends with a backtick or a space. In a table row `|` is
    escaped; GFM removes that backslash before it reads the code span."""
    # Code shows `<!--` as it is; a word joiner keeps the raw comment body free of a second
    # "<!-- voiceassist-perf-gate:... -->" for tools that search it as a plain string.
    content = _plain(value).replace("<!--", "<" + WORD_JOINER + "!--")
    if not content:
        return ""
    runs = [len(run) for run in re.findall(r"`+", content)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if (content[0] == "`" or content[-1] == "`"
                  or (content[0] == " " and content[-1] == " " and content.strip(" "))) else ""
    if table:
        content = content.replace("|", "\\|")
    return f"{fence}{pad}{content}{pad}{fence}"


def mermaid_label(value: object) -> str:
    """`value` inside a double-quoted Mermaid label, inside a ```mermaid fence: letters, digits and
    plain punctuation are kept, anything else (quotes, brackets, backticks, `%%{` directives, `#...;`
    entity codes, line breaks) becomes `'`."""
    return re.sub(r"[^\w /.:,+=?@()-]", "'", _plain(value))


def comment_token(value: object) -> str:
    """`value` as a word inside an HTML comment: letters, digits, `_` and `-` only, so nothing can end
    the comment (`-->`) or open another."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(value))


if __name__ == "__main__":
    sys.stdout.write(text(sys.stdin.buffer.read().decode("utf-8", errors="replace")) + "\n")
