"""A local fake of the slice of GitHub's REST API the sticky comment uses, on pytest-httpserver.

It keeps one pull request's comments in memory and answers like GitHub: the list is paginated
(`per_page`, `page`, a `Link: <...>; rel="next"` header), POST creates, PATCH edits, and a
"fork" switch makes every write answer 403 as it does for a read-only token.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

REPO = "octo/voiceassist"
PR = 7
TOKEN = "ghs_fakeTokenThatMustNeverBePrinted0123"


@dataclass
class FakeGitHub:
    server: HTTPServer
    repo: str = REPO
    pr: int = PR
    head_sha: str = "a" * 40
    read_only: bool = False  # the token of a pull request from a fork
    comments: list[dict] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    next_id: int = 1000

    @property
    def api(self) -> str:
        return self.server.url_for("").rstrip("/")

    def install(self) -> FakeGitHub:
        base = f"/repos/{self.repo}"
        self.server.expect_request(f"{base}/issues/{self.pr}/comments", method="GET").respond_with_handler(self._list)
        self.server.expect_request(f"{base}/issues/{self.pr}/comments", method="POST").respond_with_handler(
            self._create)
        self.server.expect_request(re.compile(rf"^{base}/issues/comments/\d+$"), method="PATCH") \
            .respond_with_handler(self._update)
        self.server.expect_request(f"{base}/pulls/{self.pr}", method="GET").respond_with_handler(self._pull)
        return self

    def add_comments(self, count: int, author: str = "someone", body: str = "LGTM") -> None:
        for _ in range(count):
            self._store(body, author)

    def count(self, method: str) -> int:
        return sum(1 for called, _ in self.calls if called == method)

    # -- handlers --------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> Response | None:
        self.calls.append((request.method, request.full_path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"message": "Bad credentials"}, 401)
        return None

    def _list(self, request: Request) -> Response:
        if refused := self._authorised(request):
            return refused
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        chunk = self.comments[(page - 1) * per_page: page * per_page]
        response = _json(chunk, 200)
        if page * per_page < len(self.comments):
            next_url = f"{self.api}/repos/{self.repo}/issues/{self.pr}/comments?per_page={per_page}&page={page + 1}"
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _create(self, request: Request) -> Response:
        if refused := self._authorised(request):
            return refused
        if self.read_only:
            return _json({"message": "Resource not accessible by integration"}, 403)
        return _json(self._store(request.get_json()["body"], "github-actions[bot]"), 201)

    def _update(self, request: Request) -> Response:
        if refused := self._authorised(request):
            return refused
        if self.read_only:
            return _json({"message": "Resource not accessible by integration"}, 403)
        comment_id = int(request.path.rsplit("/", 1)[1])
        for comment in self.comments:
            if comment["id"] == comment_id:
                comment["body"] = request.get_json()["body"]
                return _json(comment, 200)
        return _json({"message": "Not Found"}, 404)

    def _pull(self, request: Request) -> Response:
        if refused := self._authorised(request):
            return refused
        return _json({"number": self.pr, "head": {"sha": self.head_sha}}, 200)

    def _store(self, body: str, author: str) -> dict:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": {"login": author},
                   "html_url": f"https://github.com/{self.repo}/pull/{self.pr}#issuecomment-{self.next_id}"}
        self.comments.append(comment)
        return comment


def _json(payload, status: int) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
