"""GitHub's REST API as the publisher uses it: one session carrying the token, retries on server
errors and rate limits (bounded in tries and in total waiting), and errors that say what GitHub
answered (status, message, the permissions it wanted, whether it was a rate limit).

Retries follow GitHub's guidance for rate limits: after a 403 or 429 with `retry-after`, wait that
long; with `x-ratelimit-remaining: 0`, wait until `x-ratelimit-reset`; after a secondary rate limit
with neither, wait at least a minute; then exponentially longer. 5xx answers and dropped connections
are retried with exponential backoff and jitter, except for a request that is not idempotent (POST),
which the caller decides about. Every message goes through `redact`: the token is never printed.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

API_VERSION = "2022-11-28"
TIMEOUT_S = 30
SERVER_ERRORS = (500, 502, 503, 504)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries of one request, the first included
    budget_s: float = 120.0  # waiting in all, over every request of one publisher run
    base_s: float = 2.0  # the first backoff; it doubles on every retry, with jitter
    cap_s: float = 60.0  # the longest single backoff
    secondary_floor_s: float = 60.0  # GitHub: at least a minute after a secondary rate limit without headers


class APIError(Exception):
    """GitHub refused or failed. `status` is the HTTP status (None: no answer); `accepted_permissions`
    GitHub's x-accepted-github-permissions (what a fine-grained token would need)."""

    def __init__(self, message: str, status: int | None = None, *, method: str = "", detail: str = "",
                 accepted_permissions: str = "", rate_limited: bool = False):
        super().__init__(message)
        self.status = status
        self.method = method
        self.detail = detail
        self.accepted_permissions = accepted_permissions
        self.rate_limited = rate_limited

    def noting(self, note: str) -> APIError:
        """The same failure, its message followed by `note`."""
        return APIError(f"{self} ({note})", self.status, method=self.method, detail=self.detail,
                        accepted_permissions=self.accepted_permissions, rate_limited=self.rate_limited)


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class GitHubAPI:
    """Requests to one API base with one token. `sleep`, `now` (wall clock, for x-ratelimit-reset)
    and `jitter` are injectable so the tests can check the waits without waiting."""

    def __init__(self, api: str, token: str, *, retry: RetryPolicy | None = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], float] = time.time, jitter: Callable[[], float] = random.random,
                 log: Callable[[str], None] = _log):
        self.api = api.rstrip("/")
        self.token = token
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "voiceassist-perf-gate",
        })
        self._sleep, self._now, self._jitter, self._log = sleep, now, jitter, log
        self.waited_s = 0.0

    def call(self, method: str, url: str, *, idempotent: bool | None = None, **kwargs) -> requests.Response:
        """One request, retried as the module says; raises APIError with a redacted message."""
        if not url.startswith(self.api + "/"):
            raise APIError(f"refusing to send the token outside {self.api}", method=method)
        idempotent = method != "POST" if idempotent is None else idempotent
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = self.session.request(method, url, timeout=TIMEOUT_S, **kwargs)
            except requests.RequestException as error:
                failure = APIError(redact(f"{method} {url} failed: {type(error).__name__}: {error}",
                                          self.token), method=method)
                wait = self._backoff(attempt) if idempotent else None
            else:
                if response.status_code < 400:
                    return response
                failure = self._failure(method, url, response)
                wait = self._wait(response, failure, attempt, idempotent)
            if wait is None:
                raise failure
            if attempt == self.retry.attempts:
                raise failure.noting(f"gave up after {attempt} tries")
            if wait > self.retry.budget_s - self.waited_s:
                asked = "GitHub asks to wait" if failure.rate_limited else "the next try would wait"
                raise failure.noting(f"{asked} {wait:.0f} s; this step waits at most "
                                     f"{self.retry.budget_s:.0f} s in all")
            self._log(f"perf gate: {failure}; retrying in {wait:.1f} s "
                      f"(try {attempt + 1} of {self.retry.attempts})")
            self._sleep(wait)
            self.waited_s += wait
        raise AssertionError("unreachable")

    def _failure(self, method: str, url: str, response: requests.Response) -> APIError:
        try:
            detail = str(response.json().get("message", ""))
        except (ValueError, AttributeError):
            detail = response.text[:200]
        detail = redact(" ".join(detail.split()), self.token)
        headers = response.headers
        rate_limited = response.status_code == 429 or (response.status_code == 403 and (
            "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"
            or "rate limit" in detail.lower()))
        return APIError(redact(f"{method} {url} answered HTTP {response.status_code}: {detail}", self.token),
                        response.status_code, method=method, detail=detail,
                        accepted_permissions=headers.get("x-accepted-github-permissions", ""),
                        rate_limited=rate_limited)

    def _wait(self, response: requests.Response, failure: APIError, attempt: int,
              idempotent: bool) -> float | None:
        """Seconds to wait before trying again, or None: do not retry."""
        if failure.rate_limited:  # GitHub did not act on the request: any method may be retried
            headers = response.headers
            retry_after = headers.get("retry-after", "").strip()
            if retry_after.isdigit():
                return float(retry_after)
            reset = headers.get("x-ratelimit-reset", "").strip()
            if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
                return max(0.0, int(reset) - self._now()) + 1.0
            return max(self.retry.secondary_floor_s, self._backoff(attempt))
        if response.status_code in SERVER_ERRORS and idempotent:
            return self._backoff(attempt)
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry.cap_s, self.retry.base_s * 2 ** (attempt - 1))
        return ceiling * (0.5 + 0.5 * self._jitter())  # "equal jitter": never less than half the step
