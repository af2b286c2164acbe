"""A verdict.json written by a run this repository does not trust (a fork's pull request runs its own
copy of the action), turned into the comment's markdown by this checkout's renderer: read as data
only, bounded in size, validated against verdict.schema.json, every string escaped by render.py.

A verdict that is too big, not JSON, of another schema or of the wrong types is never shown, not even
in part: the comment then says that the run's results could not be shown and why, in words of its
own (where in the document it failed and which rule), never quoting the document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gate import COMMENT_MARKER

SCHEMA_FILE = Path(__file__).with_name("verdict.schema.json")
MAX_BYTES = 5 * 1024 * 1024  # a 60-minute soak over 25 endpoints writes ~0.1 MB
FOOTER = ("_Rendered by the base repository from the `verdict.json` of this pull request's run; the text "
          "in it (endpoint names, errors, messages) is shown as that run wrote it._")


class RejectedVerdict(Exception):
    """The verdict.json cannot be shown; the message is safe to print and to post (it quotes nothing
    from the document)."""


@dataclass(frozen=True)
class Comment:
    summary: str  # the markdown to post
    rejected: str = ""  # why the verdict was not shown ("" when it was)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def load(path: Path, profile: str) -> dict:
    """The verdict at `path`, checked; raises RejectedVerdict."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise RejectedVerdict(f"the run left no verdict.json ({error.strerror})") from None
    if size > MAX_BYTES:
        raise RejectedVerdict(f"verdict.json is {size:,} bytes, more than the {MAX_BYTES:,} accepted")
    try:
        verdict = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise RejectedVerdict("verdict.json is not UTF-8 text") from None
    except RecursionError:
        raise RejectedVerdict("verdict.json is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, NaN/Infinity, an integer of thousands of digits
        where = f" (line {error.lineno})" if isinstance(error, json.JSONDecodeError) else ""
        raise RejectedVerdict(f"verdict.json is not valid JSON{where}") from None
    problem = schema_problem(verdict)
    if problem:
        raise RejectedVerdict(f"verdict.json does not match the verdict schema: {problem}")
    if verdict["profile"] != profile:
        raise RejectedVerdict(f"verdict.json is for another profile than {profile}")
    return verdict


def schema_problem(document: object) -> str:
    """"" when `document` matches verdict.schema.json, else where and how it does not."""
    import jsonschema  # only the fork-comment path needs it

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    except RecursionError:
        return "nested too deeply"
    if error is None:
        return ""
    return f"at {_where(error.absolute_path)}: {_rule(error)}"


def _where(path) -> str:
    """A JSON path such as endpoints/3/errors/0/error, each step a number or a plain name (a name
    from the document that is not plain, e.g. an attacker's key, shows as `?`)."""
    steps = [str(step) if isinstance(step, int) or re.fullmatch(r"[A-Za-z0-9_]{1,40}", str(step)) else "?"
             for step in path]
    return "/".join(steps) or "the top level"


def _rule(error) -> str:
    """The broken rule in the schema's words (the schema is ours: its values may be shown)."""
    keyword, expected = error.validator, error.validator_value
    if keyword == "type":
        return f"not of type {' or '.join(expected) if isinstance(expected, list) else expected}"
    if keyword == "required":
        missing = [name for name in expected if isinstance(error.instance, dict) and name not in error.instance]
        return f"missing {', '.join(missing) or 'a required field'}"
    if keyword in ("maxLength", "maxItems", "maxProperties"):
        what = {"maxLength": "characters", "maxItems": "items", "maxProperties": "fields"}[keyword]
        return f"more than {expected} {what}"
    if keyword in ("minimum", "maximum"):
        return f"{'below' if keyword == 'minimum' else 'above'} {expected}"
    if keyword in ("enum", "const"):
        allowed = expected if isinstance(expected, list) else [expected]
        return "not one of " + ", ".join(json.dumps(value) for value in allowed)
    if keyword == "pattern":
        return f"not of the form {expected}"
    if keyword == "propertyNames":
        return "a field name that is too long"
    if keyword == "dependentRequired":
        return "a field without the fields that go with it"
    return f"breaks the schema's {keyword} rule"


def comment_for(path: Path, profile: str) -> Comment:
    """The comment's markdown for the verdict at `path`: the report, or a notice saying why not."""
    from gate.report.markdown import text
    from gate.report.render import COMMENT_LIMIT, render_summary

    try:
        verdict = load(path, profile)
        return Comment(render_summary(verdict, limit=COMMENT_LIMIT - len(FOOTER) - 2) + "\n" + FOOTER + "\n")
    except RejectedVerdict as rejected:
        reason = str(rejected)
    except Exception as error:  # noqa: BLE001 - a verdict that passed the schema yet broke the renderer
        reason = f"the renderer could not read verdict.json ({type(error).__name__})"
    notice = "\n".join([
        COMMENT_MARKER.format(profile=profile),
        f"## ⛔ Performance gate · {text(profile)}: the results of this run cannot be shown",
        "",
        f"> {text(reason)}",
        "",
        ("The comment is rendered from the run's `verdict.json` in the base repository, and this one was "
         "not accepted, so nothing of it is shown. The run's check, its job summary and its results "
         "artifact are on the run's page."),
    ])
    return Comment(notice + "\n", rejected=reason)
