"""One virtual user's conversation with the API: its address, its tokens, and reply checks.

A reply counts as a success only when its content is right, not merely its status: a token in a
login, `success: true` in an envelope (some envelope endpoints report errors with HTTP 200). A
call that cannot be made because the user has no token is a counted failure, never a skip.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import endpoints
from accounts import Account
from run_metrics import counters

# Refresh this long before the access token expires, so no request carries a stale token.
REFRESH_MARGIN_S = 60

Check = Callable[[Any], str | None]


class NoToken(Exception):
    """The virtual user has no valid access token (its login failed), so the call was not sent."""


def envelope_ok(body: Any) -> str | None:
    if not isinstance(body, dict) or "success" not in body:
        return "reply is not an envelope"
    if body["success"] is not True:
        error = body.get("error") or {}
        return f"success=false: {error.get('code', '?')} {error.get('message', '')}".strip()
    return None


def has_keys(*keys: str) -> Check:
    def check(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "reply is not a JSON object"
        missing = [key for key in keys if key not in body]
        return f"reply lacks {', '.join(missing)}" if missing else None

    return check


def envelope_with(*keys: str) -> Check:
    """An envelope with `success: true` whose data has these keys."""

    def check(body: Any) -> str | None:
        reason = envelope_ok(body)
        if reason:
            return reason
        data = body.get("data")
        return has_keys(*keys)(data) if keys else None

    return check


def healthy(body: Any) -> str | None:
    reason = has_keys("status")(body)
    return reason or (None if body["status"] == "healthy" else f"status is {body['status']!r}")


def markdown(body: Any) -> str | None:
    """A conversation export: non-empty text."""
    return None if isinstance(body, str) and body.strip() else "export is empty"


class ApiSession:
    def __init__(self, user, account: Account, address: str) -> None:
        self.user = user
        self.account = account
        self.address = address
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.expires_at = 0.0

    # -- sending -----------------------------------------------------------------------------

    def headers(self, auth: bool) -> dict[str, str]:
        headers = {"X-Forwarded-For": self.address}
        if auth:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return headers

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str | None = None,
        expect: int | tuple[int, ...] = 200,
        check: Check | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Send one request, judge its reply, and return the parsed JSON body (None on failure)."""
        name = name or path
        if auth and not self.ensure_token():
            self.fail_unsent(method, name, NoToken(f"no access token for {self.account.email}: login failed"))
            return None
        expected = (expect,) if isinstance(expect, int) else expect
        headers = {**self.headers(auth), **kwargs.pop("headers", {})}
        with self.user.client.request(
            method, path, name=name, headers=headers, catch_response=True, **kwargs
        ) as response:
            reason, body = self._judge(response, expected, check)
            if reason:
                response.failure(reason)
                return None
            response.success()
            return body

    def _judge(self, response, expected: tuple[int, ...], check: Check | None) -> tuple[str | None, Any]:
        status = response.status_code
        if status == 429:
            counters.add("rate_limit_hits")
            return "429 rate limited", None
        if status not in expected:
            return f"HTTP {status}, expected {'/'.join(map(str, expected))}: {_error_detail(response)}", None
        content_type = response.headers.get("content-type", "") if response.headers else ""
        body: Any = response.text
        if "json" in content_type:
            try:
                body = response.json()
            except ValueError:
                return "reply is not valid JSON", None
        return (check(body) if check else None), body

    def fail_unsent(self, method: str, name: str, error: Exception) -> None:
        self.user.environment.events.request.fire(
            request_type=method, name=name, response_time=0, response_length=0, exception=error, context={}
        )

    # -- auth --------------------------------------------------------------------------------

    def register(self) -> bool:
        body = self.call(
            "POST",
            endpoints.REGISTER,
            auth=False,
            expect=(201, 400),
            json={"email": self.account.email, "password": self.account.password,
                  "full_name": self.account.full_name},
        )
        return body is not None

    def login(self) -> bool:
        body = self.call(
            "POST",
            endpoints.LOGIN,
            auth=False,
            check=has_keys("access_token", "refresh_token", "expires_in"),
            json={"email": self.account.email, "password": self.account.password},
        )
        return self._take_tokens(body)

    def refresh(self) -> bool:
        body = self.call(
            "POST",
            endpoints.REFRESH,
            auth=False,
            check=has_keys("access_token", "refresh_token", "expires_in"),
            json={"refresh_token": self.refresh_token},
        )
        return self._take_tokens(body)

    def logout(self) -> None:
        self.call("POST", endpoints.LOGOUT, check=has_keys("message"))
        self.access_token = self.refresh_token = None
        self.expires_at = 0.0

    def _take_tokens(self, body: Any) -> bool:
        if body is None:
            counters.add("auth_failures")
            self.access_token = None
            return False
        self.access_token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        self.expires_at = time.monotonic() + float(body["expires_in"])
        return True

    def ensure_token(self) -> bool:
        """A valid access token, refreshed before expiry; False when the user has none."""
        if self.access_token is None:
            return False
        if time.monotonic() < self.expires_at - REFRESH_MARGIN_S:
            return True
        return self.refresh() or self.login()


def _error_detail(response) -> str:
    """What the target said went wrong: an envelope's error code and message, the same text for every
    failure of one cause (the raw reply's start may run into its details or timestamp), else the
    reply's start."""
    body = None
    if "json" in (response.headers.get("content-type", "") if response.headers else ""):
        try:
            body = response.json()
        except ValueError:
            pass
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("code"):
        detail = f"{error['code']} {error.get('message') or ''}".strip()
    else:
        detail = response.text or ""
    return detail[:120].replace("\n", " ")
