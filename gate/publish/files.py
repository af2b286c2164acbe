"""Publishing the verdict: verdict.json and summary.md next to the run, and the job summary.

The sticky pull-request comment, the one stage that touches the network, is `gate/publish/pr_comment.py`
(`post_sticky_comment`): it finds the token's own comment carrying the profile's marker
(gate.COMMENT_MARKER) across every page of comments and updates it in place.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

VERDICT_FILE = "verdict.json"
SUMMARY_FILE = "summary.md"


def write_report(verdict: dict, summary: str, folder: str | Path) -> list[Path]:
    """Writes verdict.json and summary.md into `folder` (created if needed); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    verdict_path, summary_path = folder / VERDICT_FILE, folder / SUMMARY_FILE
    verdict_path.write_text(json.dumps(verdict, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    summary_path.write_text(summary, encoding="utf-8")
    return [verdict_path, summary_path]


def append_job_summary(summary: str) -> bool:
    """Appends the summary to GitHub's job summary when running inside Actions."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(summary + "\n")
    return True
