"""The sticky pull-request comment: one comment per profile, found by a hidden marker across every
page of the pull request's comments, updated in place; a clear notice (not a failure) when the
token may not comment, as on a pull request from a fork.

    GITHUB_TOKEN=... python -m gate.publish --summary results/smoke/summary.md --profile smoke \\
        --repo OWNER/REPO --pr 42 [--verdict pass] [--mode always|on-failure] [--run-url URL]

The token is read from the environment (GITHUB_TOKEN), never from the command line, and never
printed: every message that leaves this module goes through `redact`. The API base comes from
GITHUB_API_URL (GitHub Enterprise, or a local fake in the tests). Only `requests` is needed, so the
fork-comment workflow can run this without installing the rest of the bundle.

Exit codes: 0 the comment is in place, or was not wanted, or the token may not write, or the pull
request moved on from the tested commit (a notice says so); 1 the API failed otherwise (a warning
says how); 2 usage error (bad arguments, no file).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from gate import COMMENT_MARKER

BODY_LIMIT = 65_536  # GitHub rejects a comment body above this many characters
PER_PAGE = 100
MAX_PAGES = 200  # 20,000 comments: bounds the walk even if the API keeps sending rel="next"
TIMEOUT_S = 30
MODES = ("always", "on-failure", "off")
API_VERSION = "2022-11-28"


class CommentError(Exception):
    """The API refused or failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Outcome:
    action: str  # created, updated, unchanged, skipped
    message: str
    url: str = ""


def marker(profile: str) -> str:
    return COMMENT_MARKER.format(profile=profile)


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


# -- the body ----------------------------------------------------------------------------------


def compose_body(summary: str, profile: str, run_url: str = "", limit: int = BODY_LIMIT) -> str:
    """The comment: the marker first (so a quote of it elsewhere never matches), then the summary,
    cut at a section boundary with a note and a link when it would not fit GitHub's limit."""
    tag = marker(profile)
    text = summary.strip("\n")
    if text.startswith(tag):
        text = text[len(tag):].lstrip("\n")
    body = f"{tag}\n{text}\n"
    if len(body) <= limit:
        return body
    where = f"the run's job summary and its results artifact: {run_url}" if run_url else \
        "the run's job summary and its results artifact"
    note = (f"\n\n---\n> ✂️ The rest of this summary is cut to fit GitHub's {BODY_LIMIT:,}-character comment "
            f"limit. The full summary is in {where}\n")
    room = limit - len(tag) - 1 - len(note) - 8  # 8: a closing code fence if the cut lands inside one
    kept = _cut_at_section(text, room)
    if kept.count("```") % 2:
        kept += "\n```"
    return f"{tag}\n{kept}{note}"


def _cut_at_section(text: str, room: int) -> str:
    """The longest prefix of `text` within `room` characters that ends before a heading, else before
    a blank line, else at a line end: a table or a details block is never cut in the middle when a
    boundary exists."""
    head = text[:room]
    for pattern in (r"\n(?=#{1,6} )", r"\n\n", r"\n"):
        cuts = [match.start() for match in re.finditer(pattern, head)]
        if cuts and cuts[-1] > 0:
            kept = head[: cuts[-1]].rstrip()
            opened, closed = kept.count("<details"), kept.count("</details>")
            return kept + "\n</details>" * max(0, opened - closed)
    return head


# -- the API -----------------------------------------------------------------------------------


class PullRequestComments:
    """The REST calls for one pull request's comments (an issue's comments on GitHub)."""

    def __init__(self, api: str, repo: str, number: int, token: str, session: requests.Session | None = None):
        self.api = api.rstrip("/")
        self.repo = repo
        self.number = number
        self.token = token
        self.session = session or requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "voiceassist-perf-gate",
        })

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_S, **kwargs)
        except requests.RequestException as error:
            raise CommentError(redact(f"{method} {url} failed: {type(error).__name__}: {error}", self.token)) \
                from None
        if response.status_code >= 400:
            detail = ""
            try:
                detail = str(response.json().get("message", ""))
            except ValueError:
                detail = response.text[:200]
            raise CommentError(redact(f"{method} {url} answered HTTP {response.status_code}: {detail}",
                                      self.token), response.status_code)
        return response

    def find(self, tag: str) -> dict | None:
        """The first comment whose body starts with `tag`, walking every page (rel="next")."""
        url: str | None = f"{self.api}/repos/{self.repo}/issues/{self.number}/comments"
        params: dict | None = {"per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                return None
            response = self._call("GET", url, params=params)
            for comment in response.json():
                if str(comment.get("body") or "").lstrip().startswith(tag):
                    return comment
            url = response.links.get("next", {}).get("url")
            if url and not url.startswith(self.api + "/"):
                # the session carries the token: never send it to another host
                raise CommentError(f"refusing to follow a next-page link outside {self.api}")
            params = None  # the next link carries its own query
        raise CommentError(f"more than {MAX_PAGES} pages of comments; gave up looking for the marker")

    def create(self, body: str) -> dict:
        url = f"{self.api}/repos/{self.repo}/issues/{self.number}/comments"
        return self._call("POST", url, json={"body": body}).json()

    def update(self, comment_id: int, body: str) -> dict:
        url = f"{self.api}/repos/{self.repo}/issues/comments/{comment_id}"
        return self._call("PATCH", url, json={"body": body}).json()

    def head_sha(self) -> str:
        url = f"{self.api}/repos/{self.repo}/pulls/{self.number}"
        return str(self._call("GET", url).json().get("head", {}).get("sha", ""))


def post_sticky_comment(summary: str, repository: str, issue_number: int, token: str, *, profile: str,
                        api: str = "https://api.github.com", run_url: str = "",
                        expect_head_sha: str = "") -> Outcome:
    """Create or update the profile's one comment on the pull request. Raises CommentError."""
    comments = PullRequestComments(api, repository, issue_number, token)
    if expect_head_sha:
        # A workflow_run job takes the PR number from an artifact the PR's own run wrote: only trust
        # it if that pull request's head is the commit that run tested.
        actual = comments.head_sha()
        if actual != expect_head_sha:
            return Outcome("skipped", f"pull request #{issue_number} is at {actual[:12] or 'an unknown commit'}, "
                                      f"not at the tested commit {expect_head_sha[:12]}: not commenting (a newer "
                                      "run will)")
    body = compose_body(summary, profile, run_url)
    existing = comments.find(marker(profile))
    if existing is None:
        created = comments.create(body)
        return Outcome("created", f"created the {profile} comment", created.get("html_url", ""))
    if existing.get("body") == body:
        return Outcome("unchanged", f"the {profile} comment is already up to date", existing.get("html_url", ""))
    updated = comments.update(existing["id"], body)
    return Outcome("updated", f"updated the {profile} comment in place", updated.get("html_url", ""))


# -- the command line --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gate.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", required=True, type=Path, help="summary.md written by the gate")
    parser.add_argument("--profile", required=True, help="the profile: one comment per profile")
    parser.add_argument("--repo", required=True, help="OWNER/REPO")
    parser.add_argument("--pr", required=True, help="pull request number")
    parser.add_argument("--mode", choices=MODES, default="always",
                        help="always: create or update; on-failure: create only when the verdict is not "
                             "pass (an existing comment is still updated); off: do nothing")
    parser.add_argument("--verdict", default="", help="pass, regression or invalid (for --mode on-failure)")
    parser.add_argument("--run-url", default="", help="link to the run, for a summary cut to fit")
    parser.add_argument("--expect-head-sha", default="",
                        help="only comment if the pull request's head is this commit (workflow_run)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.mode == "off":
        print("perf gate: comment mode is off; no pull-request comment")
        return 0
    if not re.fullmatch(r"[1-9][0-9]{0,9}", str(args.pr)):
        print(f"::warning::perf gate: {args.pr!r} is not a pull request number; no comment")
        return 2
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", args.repo):
        print(f"::warning::perf gate: {args.repo!r} is not OWNER/REPO; no comment")
        return 2
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        print("::notice::perf gate: no token was given, so no pull-request comment; "
              "the summary is in the job summary")
        return 0
    try:
        summary = args.summary.read_text(encoding="utf-8")
    except OSError as error:
        print(f"::warning::perf gate: no summary to comment with ({args.summary}: {error.strerror})")
        return 2
    api = os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    number = int(args.pr)
    try:
        # on-failure: a pass creates nothing, but refreshes a comment an earlier failure left.
        if (args.mode == "on-failure" and args.verdict == "pass"
                and PullRequestComments(api, args.repo, number, token).find(marker(args.profile)) is None):
            print("perf gate: the run passed and comment mode is on-failure; no comment")
            return 0
        outcome = post_sticky_comment(summary, args.repo, number, token, profile=args.profile, api=api,
                                      run_url=args.run_url, expect_head_sha=args.expect_head_sha)
    except CommentError as error:
        message = redact(str(error), token)
        if error.status in (401, 403, 404):
            print(f"::notice::perf gate: this token may not comment on pull request #{number} ({message}). "
                  "A pull request from a fork gets a read-only token: the summary is in the job summary and "
                  "the results artifact, and the perf-comment workflow posts it from the base repository.")
            return 0
        print(f"::warning::perf gate: could not comment on pull request #{number}: {message}")
        return 1
    if outcome.action == "skipped":
        print(f"::notice::perf gate: {outcome.message}")
        return 0
    print(f"perf gate: {outcome.message} on pull request #{number}" + (f": {outcome.url}" if outcome.url else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
