"""A local fake of the slice of GitHub's REST API the sticky comment uses, on pytest-httpserver.

It keeps one pull request's comments in memory and answers like GitHub: the list is paginated
(`per_page`, `page`, a `Link: <...>; rel="next"` header), POST creates, PATCH edits (only the
comment's author may), `GET /user` answers 403 for an installation token (GITHUB_TOKEN) and the
user for a personal token (`pat_login`), and the pull request says whether its head is in a fork.

Switches for what goes wrong: `read_only` makes every write answer 403 as for a token without
`pull-requests: write` (with `fork`, the read-only token of a fork's pull request); `pr_exists=False`
makes the pull request 404; `fail_next` queues answers for the next requests of a method (5xx,
rate limits with their headers, optionally after doing the work, as a 502 from a proxy would).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

REPO = "octo/voiceassist"
PR = 7
TOKEN = "ghs_fakeTokenThatMustNeverBePrinted0123"
BOT = "github-actions[bot]"
NOT_ACCESSIBLE = "Resource not accessible by integration"
SECONDARY = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
             "If you reach out to GitHub Support for help, please include the request ID.")


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Server Error"
    after_effect: bool = False  # do the work, then answer with this failure
    method: str = ""
    path: str = ""  # only requests whose path contains this


@dataclass
class FakeGitHub:
    server: HTTPServer
    repo: str = REPO
    pr: int = PR
    head_sha: str = "a" * 40
    read_only: bool = False  # writes answer 403: a token without pull-requests: write
    fork: bool = False  # the pull request's head is in another repository
    pr_exists: bool = True
    pat_login: str | None = None  # the token is a personal access token of this user
    comments: list[dict] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    call_times: list[float] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    next_id: int = 1000

    @property
    def api(self) -> str:
        return self.server.url_for("").rstrip("/")

    @property
    def author(self) -> str:
        """Who the token's comments are written by."""
        return self.pat_login or BOT

    def install(self) -> FakeGitHub:
        base = f"/repos/{self.repo}"
        self.server.expect_request(f"{base}/issues/{self.pr}/comments", method="GET").respond_with_handler(self._list)
        self.server.expect_request(f"{base}/issues/{self.pr}/comments", method="POST").respond_with_handler(
            self._create)
        self.server.expect_request(re.compile(rf"^{base}/issues/comments/\d+$"), method="PATCH") \
            .respond_with_handler(self._update)
        self.server.expect_request(f"{base}/pulls/{self.pr}", method="GET").respond_with_handler(self._pull)
        self.server.expect_request("/user", method="GET").respond_with_handler(self._user)
        return self

    def add_comments(self, count: int, author: str = "someone", body: str = "LGTM") -> None:
        for _ in range(count):
            self._store(body, author)

    def count(self, method: str) -> int:
        return sum(1 for called, _ in self.calls if called == method)

    def fail_next(self, method: str, status: int, *, times: int = 1, headers: dict[str, str] | None = None,
                  message: str = "Server Error", after_effect: bool = False, path: str = "/comments") -> None:
        """The next `times` requests of `method` to a path containing `path` answer `status`."""
        self.failures.extend(Failure(status, dict(headers or {}), message, after_effect, method, path)
                             for _ in range(times))

    def _queued(self, request: Request, after_effect: bool) -> Failure | None:
        for failure in self.failures:
            if failure.method == request.method and failure.path in request.path:
                if failure.after_effect == after_effect:
                    self.failures.remove(failure)
                    return failure
                return None
        return None

    # -- handlers --------------------------------------------------------------------------------

    def _refused(self, request: Request, *, pull_request: bool = True) -> Response | None:
        """The answer when the request does not get as far as its handler."""
        self.calls.append((request.method, request.full_path))
        self.call_times.append(time.monotonic())
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"message": "Bad credentials"}, 401)
        if pull_request and not self.pr_exists:
            return _json({"message": "Not Found"}, 404)
        failure = self._queued(request, after_effect=False)
        return _failure(failure) if failure else None

    def _after(self, request: Request, response: Response) -> Response:
        failure = self._queued(request, after_effect=True)
        return _failure(failure) if failure else response

    def _list(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        chunk = self.comments[(page - 1) * per_page: page * per_page]
        response = _json(chunk, 200)
        if page * per_page < len(self.comments):
            next_url = f"{self.api}/repos/{self.repo}/issues/{self.pr}/comments?per_page={per_page}&page={page + 1}"
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return self._after(request, response)

    def _create(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        if self.read_only:
            return _not_accessible()
        return self._after(request, _json(self._store(request.get_json()["body"], self.author), 201))

    def _update(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        if self.read_only:
            return _not_accessible()
        comment_id = int(request.path.rsplit("/", 1)[1])
        for comment in self.comments:
            if comment["id"] == comment_id:
                comment["body"] = request.get_json()["body"]
                comment["edited_by"] = self.author
                return self._after(request, _json(comment, 200))
        return _json({"message": "Not Found"}, 404)

    def _pull(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        head_repo = "forker/voiceassist" if self.fork else self.repo
        return self._after(request, _json({"number": self.pr, "head": {"sha": self.head_sha,
                                                                      "repo": {"full_name": head_repo}},
                                           "base": {"repo": {"full_name": self.repo}}}, 200))

    def _user(self, request: Request) -> Response:
        if refused := self._refused(request, pull_request=False):
            return refused
        if self.pat_login is None:  # an installation token has no user
            return _json({"message": NOT_ACCESSIBLE,
                          "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                          "status": "403"}, 403)
        return _json({"login": self.pat_login, "type": "User"}, 200)

    def _store(self, body: str, author: str) -> dict:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body,
                   "user": {"login": author, "type": "Bot" if author.endswith("[bot]") else "User"},
                   "html_url": f"https://github.com/{self.repo}/pull/{self.pr}#issuecomment-{self.next_id}"}
        self.comments.append(comment)
        return comment


def _json(payload, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json", headers=headers)


def _not_accessible() -> Response:
    return _json({"message": NOT_ACCESSIBLE}, 403, {"X-Accepted-GitHub-Permissions": "issues=write; pull_requests=write"})


def _failure(failure: Failure) -> Response:
    return _json({"message": failure.message}, failure.status, failure.headers)
