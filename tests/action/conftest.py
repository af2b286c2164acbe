"""The action's tests: `-m "not e2e"` skips the end-to-end runs of action.yml (about 2 minutes).

The `e2e` marker is registered in pyproject.toml.
"""

import pytest
from pytest_httpserver import HTTPServer

from tests.action.fake_github import FakeGitHub


@pytest.fixture(scope="module")
def github():
    """A fake GitHub API on its own loopback server, shared by a module's runs of action.yml (the
    end-to-end files); the comment tests' own function-scoped `github` overrides it."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    fake = FakeGitHub(server).install()
    yield fake
    server.clear()
    server.stop()
