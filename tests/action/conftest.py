"""The action's tests: `-m "not e2e"` skips the end-to-end runs of action.yml (about 2 minutes)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs action.yml end to end against the real reference stack")
