"""The sticky pull-request comment: one comment per profile, found by a hidden marker across every
page of the pull request's comments among the comments the token itself wrote, updated in place; a
clear message saying what GitHub refused and why when it cannot comment.

    GITHUB_TOKEN=... python -m gate.publish --summary results/smoke/summary.md --profile smoke \\
        --repo OWNER/REPO --pr 42 [--verdict pass] [--mode always|on-failure] [--run-url URL] \\
        [--author auto|LOGIN]
    ... python -m gate.publish --from-verdict FORK_RESULTS/verdict.json ...   (perf-comment.yml)

`--from-verdict` renders the comment in this process from a verdict.json an untrusted run wrote
(gate/publish/untrusted_verdict.py), instead of posting that run's summary.md.

The token is read from the environment (GITHUB_TOKEN), never from the command line, and never
printed: every message that leaves this module goes through `redact`. The API base comes from
GITHUB_API_URL (GitHub Enterprise, or a local fake in the tests). Requests are retried on server
errors and rate limits, within bounds (gate/publish/github_api.py).

Exit codes: 0 the comment is in place, or was not wanted, or the pull request comes from a fork and
its token is read-only, or the pull request moved on from the tested commit (a notice says so); 1 the
API failed otherwise (a warning says what GitHub answered: the token refused, a permission missing,
the pull request not found, a rate limit); 2 usage error (bad arguments, no file).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gate import COMMENT_MARKER
from gate.publish import untrusted_verdict
from gate.publish.github_api import APIError, GitHubAPI, redact

BODY_LIMIT = 65_536  # GitHub rejects a comment body above this many characters
PER_PAGE = 100
MAX_PAGES = 200  # 20,000 comments: bounds the walk even if the API keeps sending rel="next"
MODES = ("always", "on-failure", "off")
PROFILE = re.compile(r"[A-Za-z0-9_-]{1,40}")
# Who writes the comments of GITHUB_TOKEN (an installation token of the GitHub Actions app): GitHub
# shows them as this bot user (type Bot); such a token has no user of its own (GET /user answers 403).
GITHUB_ACTIONS_BOT = "github-actions[bot]"
AUTO = "auto"


@dataclass(frozen=True)
class Outcome:
    action: str  # created, updated, unchanged, skipped
    message: str
    url: str = ""


def marker(profile: str) -> str:
    return COMMENT_MARKER.format(profile=profile)


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


# -- the comments ------------------------------------------------------------------------------


class PullRequestComments:
    """The REST calls for one pull request's comments (an issue's comments on GitHub)."""

    def __init__(self, github: GitHubAPI, repo: str, number: int):
        self.github = github
        self.repo = repo
        self.number = number

    @property
    def _comments_url(self) -> str:
        return f"{self.github.api}/repos/{self.repo}/issues/{self.number}/comments"

    def find(self, tag: str, author: str | Callable[[], str]) -> dict | None:
        """The first comment written by `author` whose body starts with `tag`, walking every page
        (rel="next"). Anyone can write a comment that starts with the marker; only the token's own
        comment is the sticky one. `author` may be a function, called once a comment has the marker."""
        url: str | None = self._comments_url
        params: dict | None = {"per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                return None
            response = self.github.call("GET", url, params=params)
            for comment in response.json():
                if not str(comment.get("body") or "").lstrip().startswith(tag):
                    continue
                if callable(author):
                    author = author()
                if str((comment.get("user") or {}).get("login", "")).casefold() == author.casefold():
                    return comment
            url = response.links.get("next", {}).get("url")
            if url and not url.startswith(self.github.api + "/"):
                # the session carries the token: never send it to another host
                raise APIError(f"refusing to follow a next-page link outside {self.github.api}")
            params = None  # the next link carries its own query
        raise APIError(f"more than {MAX_PAGES} pages of comments; gave up looking for the marker")

    def create(self, body: str) -> dict:
        return self.github.call("POST", self._comments_url, json={"body": body}).json()

    def update(self, comment_id: int, body: str) -> dict:
        url = f"{self.github.api}/repos/{self.repo}/issues/comments/{comment_id}"
        return self.github.call("PATCH", url, json={"body": body}).json()

    def pull(self) -> dict:
        return self.github.call("GET", f"{self.github.api}/repos/{self.repo}/pulls/{self.number}").json()

    def from_fork(self) -> bool | None:
        """Whether the pull request's head is in another repository (None: GitHub would not say)."""
        try:
            pull = self.pull()
        except APIError:
            return None
        head = (pull.get("head") or {}).get("repo")
        base = (pull.get("base") or {}).get("repo") or {}
        if head is None:
            return True  # the fork was deleted
        return str(head.get("full_name", "")).casefold() != str(base.get("full_name", self.repo)).casefold()


def comment_author(github: GitHubAPI, configured: str = AUTO) -> str:
    """The login the token's comments are written by: `configured`, or with "auto" the login of
    `GET /user` for a personal access token, and github-actions[bot] for a token that has no user
    (GITHUB_TOKEN, an installation token: GitHub answers 403 there; another GitHub App's comments are
    by "<app-slug>[bot]", which only the configuration can say)."""
    if configured and configured != AUTO:
        return configured
    try:
        return str(github.call("GET", f"{github.api}/user").json()["login"])
    except APIError as error:
        if error.status in (403, 404) and not error.rate_limited:
            return GITHUB_ACTIONS_BOT
        raise
    except (KeyError, TypeError, ValueError):
        return GITHUB_ACTIONS_BOT


def _once(function: Callable[[], str]) -> Callable[[], str]:
    """`function`, called at most once (the author's login: one GET /user per run, and none when no
    comment carries the marker)."""
    cache: list[str] = []

    def call() -> str:
        if not cache:
            cache.append(function())
        return cache[0]

    return call


def post_sticky_comment(summary: str, repository: str, issue_number: int, token: str, *, profile: str,
                        api: str = "https://api.github.com", run_url: str = "", expect_head_sha: str = "",
                        author: str = AUTO, github: GitHubAPI | None = None) -> Outcome:
    """Create or update the profile's one comment on the pull request. Raises APIError."""
    github = github or GitHubAPI(api, token)
    comments = PullRequestComments(github, repository, issue_number)
    if expect_head_sha:
        # A workflow_run job takes the PR number from an artifact the PR's own run wrote: only trust
        # it if that pull request's head is the commit that run tested.
        actual = str((comments.pull().get("head") or {}).get("sha", ""))
        if actual != expect_head_sha:
            return Outcome("skipped", f"pull request #{issue_number} is at {actual[:12] or 'an unknown commit'}, "
                                      f"not at the tested commit {expect_head_sha[:12]}: not commenting (a newer "
                                      "run will)")
    body = compose_body(summary, profile, run_url)
    login = _once(lambda: comment_author(github, author))
    existing = comments.find(marker(profile), login)
    if existing is None:
        try:
            created = comments.create(body)
        except APIError as error:
            if error.status is not None and error.status < 500:
                raise
            # No answer or a 5xx: GitHub may have created it all the same. Look before trying again,
            # so a retry never leaves two comments.
            existing = comments.find(marker(profile), login)
            if existing is None:
                created = comments.create(body)
                return Outcome("created", f"created the {profile} comment", created.get("html_url", ""))
        else:
            return Outcome("created", f"created the {profile} comment", created.get("html_url", ""))
    if existing.get("body") == body:
        return Outcome("unchanged", f"the {profile} comment is already up to date", existing.get("html_url", ""))
    updated = comments.update(existing["id"], body)
    return Outcome("updated", f"updated the {profile} comment in place", updated.get("html_url", ""))


def explain(error: APIError, comments: PullRequestComments) -> tuple[str, str, int]:
    """What an API failure means, as (workflow command, message, exit code): a pull request from a
    fork is a notice (exit 0: the perf-comment workflow comments), anything else a warning (exit 1)."""
    number, repo = comments.number, comments.repo
    if error.rate_limited:
        return "warning", f"GitHub's rate limit stopped the comment on pull request #{number}: {error}", 1
    if error.status == 401:
        return "warning", f"GitHub refused the token (expired, revoked or not a token for {repo}): {error}", 1
    if error.status == 404:
        return "warning", (f"pull request #{number} was not found in {repo}, or the token cannot see that "
                           f"repository: {error}"), 1
    if error.status == 403 and error.method in ("POST", "PATCH"):
        if comments.from_fork():
            return "notice", (f"pull request #{number} comes from a fork, and GitHub gives a fork's run a "
                              f"read-only token ({error.detail or 'HTTP 403'}): the summary is in the job "
                              "summary and the results artifact, and the perf-comment workflow posts it from "
                              "the base repository."), 0
        accepts = f"; GitHub accepts {error.accepted_permissions}" if error.accepted_permissions else ""
        return "warning", (f"the token may not comment on pull request #{number} (HTTP 403: "
                           f"{error.detail or 'forbidden'}{accepts}): give the job "
                           "`permissions: pull-requests: write`, or pass a token that has it"), 1
    if error.status == 403:
        accepts = f"; GitHub accepts {error.accepted_permissions}" if error.accepted_permissions else ""
        return "warning", (f"the token may not read pull request #{number}'s comments (HTTP 403: "
                           f"{error.detail or 'forbidden'}{accepts}): it needs `pull-requests: read`"), 1
    return "warning", f"could not comment on pull request #{number}: {error}", 1


# -- the command line --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gate.publish", description=__doc__.split("\n\n")[0])
    body = parser.add_mutually_exclusive_group(required=True)
    body.add_argument("--summary", type=Path, help="summary.md written by the gate")
    body.add_argument("--from-verdict", type=Path, metavar="VERDICT_JSON",
                      help="render the comment here from this verdict.json, which an untrusted run wrote "
                           "(a fork's): size-limited, checked against verdict.schema.json, every string "
                           "escaped; a notice instead when it does not pass")
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
    parser.add_argument("--author", default=AUTO,
                        help="login of the token's comments, the only ones taken for the sticky comment; "
                             f"auto (default): GET /user for a personal token, {GITHUB_ACTIONS_BOT} for "
                             "GITHUB_TOKEN; a GitHub App's token needs its '<app-slug>[bot]'")
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
    if not PROFILE.fullmatch(args.profile):
        print(f"::warning::perf gate: {args.profile!r} is not a profile name; no comment")
        return 2
    author = " ".join(args.author.split()) or AUTO
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        print("::notice::perf gate: no token was given, so no pull-request comment; "
              "the summary is in the job summary")
        return 0
    if args.from_verdict:
        comment = untrusted_verdict.comment_for(args.from_verdict, args.profile)
        if comment.rejected:
            print(f"::warning::perf gate: the run's verdict.json is not shown: {comment.rejected}")
        summary = comment.summary
    else:
        try:
            summary = args.summary.read_text(encoding="utf-8")
        except OSError as error:
            print(f"::warning::perf gate: no summary to comment with ({args.summary}: {error.strerror})")
            return 2
    github = GitHubAPI(os.environ.get("GITHUB_API_URL") or "https://api.github.com", token)
    number = int(args.pr)
    comments = PullRequestComments(github, args.repo, number)
    try:
        # on-failure: a pass creates nothing, but refreshes a comment an earlier failure left.
        if (args.mode == "on-failure" and args.verdict == "pass"
                and comments.find(marker(args.profile), lambda: comment_author(github, author)) is None):
            print("perf gate: the run passed and comment mode is on-failure; no comment")
            return 0
        outcome = post_sticky_comment(summary, args.repo, number, token, profile=args.profile, author=author,
                                      run_url=args.run_url, expect_head_sha=args.expect_head_sha,
                                      github=github)
    except APIError as error:
        command, message, code = explain(error, comments)
        print(f"::{command}::perf gate: {redact(message, token)}")
        return code
    if outcome.action == "skipped":
        print(f"::notice::perf gate: {outcome.message}")
        return 0
    print(f"perf gate: {outcome.message} on pull request #{number}" + (f": {outcome.url}" if outcome.url else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
