"""The stack tests run against both modes: `stack` is the embedded stack, then the PostgreSQL one.

`client(stack)` gives an HTTP client with its own loopback client address (X-Forwarded-For), so
each test has fresh rate-limit buckets, as a distinct real client would.
"""

from __future__ import annotations

import pytest
from stack_client import ApiClient


@pytest.fixture(params=["embedded", "pg"], scope="session")
def stack(request):
    return request.getfixturevalue(f"{request.param}_stack")


@pytest.fixture
def client(stack) -> ApiClient:
    return ApiClient(stack)


@pytest.fixture
def user_client(stack) -> ApiClient:
    api = ApiClient(stack)
    api.login("user")
    return api


@pytest.fixture
def admin_client(stack) -> ApiClient:
    api = ApiClient(stack)
    api.login("admin")
    return api


@pytest.fixture
def viewer_client(stack) -> ApiClient:
    api = ApiClient(stack)
    api.login("viewer")
    return api
