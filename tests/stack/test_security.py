"""Security behaviour a client relies on: roles, token expiry and revocation, rate limits, client IPs."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from stack_client import ApiClient, in_one_window

from stack.ratelimit import client_ip

ADMIN_READS = [
    "/api/admin/kb/documents",
    "/api/admin/panel/summary",
    "/api/admin/dashboard",
    "/api/admin/panel/users",
    "/api/admin/cache/stats",
    "/api/admin/feature-flags",
    "/api/admin/feature-flags/rag_enabled",
]
ADMIN_WRITES = [
    ("POST", "/api/admin/cache/clear", {}),
    ("PATCH", "/api/admin/feature-flags/rag_enabled", {"json": {"enabled": False}}),
    ("DELETE", "/api/admin/kb/documents/some-id", {}),
    ("POST", "/api/admin/kb/documents", {"files": {"file": ("a.txt", b"text")}}),
]
USER_ROUTES = [("GET", "/api/auth/me"), ("GET", "/api/conversations"), ("POST", "/api/auth/logout")]


@pytest.mark.parametrize("path", ADMIN_READS)
def test_admin_reads_need_admin_or_viewer(path, client, user_client, viewer_client):
    no_token = client.get(path)
    assert no_token.status_code == 401 and no_token.json() == {"detail": "Not authenticated"}
    forbidden = user_client.get(path)
    assert forbidden.status_code == 403 and "data" not in forbidden.json()
    assert viewer_client.get(path).status_code == 200


@pytest.mark.parametrize(("method", "path", "kwargs"), ADMIN_WRITES)
def test_admin_writes_need_admin(method, path, kwargs, client, user_client, viewer_client):
    assert client.request(method, path, **kwargs).status_code == 401
    assert user_client.request(method, path, **kwargs).status_code == 403
    assert viewer_client.request(method, path, **kwargs).status_code == 403


@pytest.mark.parametrize(("method", "path"), USER_ROUTES)
def test_user_routes_need_a_valid_token(method, path, client):
    assert client.request(method, path).json() == {"detail": "Not authenticated"}
    bad = client.request(method, path, token="garbage.token.value")
    assert bad.status_code == 401 and bad.json() == {"detail": "Could not validate credentials"}


def _forge(stack, **overrides) -> str:
    user = ApiClient(stack)
    user.login("user")
    claims = jwt.decode(user.token, stack.jwt_secret, algorithms=["HS256"])
    claims.update(overrides)
    return jwt.encode(claims, stack.jwt_secret, algorithm="HS256")


def test_expired_access_token_is_refused(stack, client):
    expired = _forge(stack, iat=int(time.time()) - 400, exp=int(time.time()) - 100)
    response = client.get("/api/auth/me", token=expired)
    assert response.status_code == 401 and response.json()["detail"] == "Could not validate credentials"


def test_token_signed_with_another_key_is_refused(stack, client):
    claims = jwt.decode(_forge(stack), stack.jwt_secret, algorithms=["HS256"])
    assert (
        client.get(
            "/api/auth/me", token=jwt.encode(claims, "another-key-" + "x" * 32, algorithm="HS256")
        ).status_code
        == 401
    )


def test_role_claim_cannot_promote_a_user(stack, client):
    """The role is read from the database, not trusted from the token."""
    escalated = _forge(stack, role="admin")
    assert client.get("/api/admin/panel/summary", token=escalated).status_code == 403


def test_refresh_token_is_not_an_access_token(client):
    pair = client.login("user")
    assert client.get("/api/auth/me", token=pair["refresh_token"]).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": pair["access_token"]}).status_code == 401


def test_expired_refresh_token_is_refused(stack, client):
    pair = client.login("user")
    claims = jwt.decode(pair["refresh_token"], stack.jwt_secret, algorithms=["HS256"])
    claims["exp"] = int(time.time()) - 1
    expired = jwt.encode(claims, stack.jwt_secret, algorithm="HS256")
    assert client.post("/api/auth/refresh", json={"refresh_token": expired}).status_code == 401


def test_logout_revokes_the_access_token_and_the_session_refresh_token(client):
    pair = client.login("user")
    assert client.post("/api/auth/logout").status_code == 200
    assert client.get("/api/auth/me").status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    ws = client.websocket()
    try:
        assert json.loads(ws.recv())["error"]["code"] == "UNAUTHORIZED"
    finally:
        ws.close()


def test_refresh_token_works_once(client):
    pair = client.login("user")
    first = client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert first.status_code == 200
    reused = client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert reused.status_code == 401
    rotated = client.post("/api/auth/refresh", json={"refresh_token": first.json()["refresh_token"]})
    assert rotated.status_code == 200


def test_login_rate_limit_answers_429_with_the_contract_body(stack):
    api = ApiClient(stack)
    wrong = {"email": stack.accounts["user"]["email"], "password": "not-the-password"}
    in_one_window()
    statuses = [api.post("/api/auth/login", json=wrong).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    limited = api.post("/api/auth/login", json=wrong)
    assert limited.json() == {"error": "Rate limit exceeded: 10 per 1 minute"}
    other = ApiClient(stack)  # another client address has its own bucket
    assert other.post("/api/auth/login", json=wrong).status_code == 401


def test_register_rate_limit_is_5_per_hour(stack):
    api = ApiClient(stack)
    in_one_window(3600)
    statuses = [
        api.post(
            "/api/auth/register",
            json={"email": f"rl-{i}-{api.address}@example.com", "password": "password123"},
        ).status_code
        for i in range(6)
    ]
    assert statuses == [201] * 5 + [429]
    assert api.post("/api/auth/register", json={}).json() == {"error": "Rate limit exceeded: 5 per 1 hour"}


@pytest.mark.parametrize(("path", "limit"), [("/health", 100), ("/health/detailed", 50)])
def test_health_rate_limits(stack, path, limit):
    api = ApiClient(stack)
    in_one_window()
    statuses = [api.get(path).status_code for _ in range(limit + 1)]
    assert statuses.count(200) == limit and statuses[-1] == 429
    assert api.get(path).json() == {"error": f"Rate limit exceeded: {limit} per 1 minute"}


def test_refresh_rate_limit_is_20_per_minute(stack):
    api = ApiClient(stack)
    in_one_window()
    statuses = [api.post("/api/auth/refresh", json={"refresh_token": "x"}).status_code for _ in range(21)]
    assert statuses == [401] * 20 + [429]


def test_forwarded_for_is_honoured_from_loopback_only():
    assert client_ip("127.0.0.1", "127.9.8.7") == "127.9.8.7"
    assert client_ip("::1", "10.1.2.3, 127.0.0.1") == "10.1.2.3"
    assert client_ip("203.0.113.5", "127.9.8.7") == "203.0.113.5"
    assert client_ip("10.0.0.8", "1.2.3.4") == "10.0.0.8"
    assert client_ip("127.0.0.1", "not-an-address") == "127.0.0.1"
    assert client_ip("127.0.0.1", None) == "127.0.0.1"
