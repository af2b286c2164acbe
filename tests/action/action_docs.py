"""The generated parts of docs/action.md: the inputs and outputs tables, rendered from action.yml,
and the example comment, quoted from tests/fixtures/action/comment-example.md (a real summary).

    python -m tests.action.action_docs    # rewrite them after editing action.yml or the example

test_action_docs.py fails when the file and action.yml disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

BUNDLE = Path(__file__).resolve().parents[2]
ACTION = BUNDLE / "action.yml"
GUIDE = BUNDLE / "docs" / "action.md"
EXAMPLE = BUNDLE / "tests" / "fixtures" / "action" / "comment-example.md"
EXAMPLE_REGION = re.compile(r"(<!-- example comment: tests/fixtures/action/comment-example\.md -->\n)(?:.*?\n)?"
                            r"(<!-- end example comment -->)", re.DOTALL)
REGION = re.compile(r"(<!-- (inputs|outputs): generated from action\.yml -->\n)(?:.*?\n)?(<!-- end \2 -->)", re.DOTALL)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;")


def tables(action_file: Path = ACTION) -> dict[str, str]:
    action = yaml.safe_load(action_file.read_text(encoding="utf-8"))
    rows = ["| input | default | what it does |", "|---|---|---|"]
    for name, spec in action["inputs"].items():
        default = spec.get("default", "")
        rows.append(f"| `{name}` | {f'`{default}`' if default != '' else '(empty)'} | {_cell(spec['description'])} |")
    outputs = ["| output | what it holds |", "|---|---|"]
    outputs += [f"| `{name}` | {_cell(spec['description'])} |" for name, spec in action["outputs"].items()]
    return {"inputs": "\n".join(rows), "outputs": "\n".join(outputs)}


def quoted_example(example_file: Path = EXAMPLE) -> str:
    """The comment as a block quote, so its headings do not become the guide's sections."""
    lines = example_file.read_text(encoding="utf-8").strip("\n").splitlines()
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def render(guide_text: str, action_file: Path = ACTION, example_file: Path = EXAMPLE) -> str:
    generated = tables(action_file)
    text = REGION.sub(lambda match: match.group(1) + generated[match.group(2)] + "\n" + match.group(3), guide_text)
    if example_file.exists():
        example = quoted_example(example_file)
        text = EXAMPLE_REGION.sub(lambda match: match.group(1) + example + "\n" + match.group(2), text)
    return text


if __name__ == "__main__":
    GUIDE.write_text(render(GUIDE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"rewrote the input and output tables of {GUIDE}")
    sys.exit(0)
