"""The action's tests: `-m "not e2e"` skips the end-to-end runs of action.yml (about 2 minutes).

The `e2e` marker is registered in pyproject.toml.
"""
