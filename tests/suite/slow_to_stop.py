"""A locustfile of users slow to stop, with the suite's listeners: the tests of what the master
(test_distributed.py) and the reports (test_reports.py) count of the requests users send in `on_stop`."""

import textwrap

HEADER = """
import gevent
import suite  # noqa: F401  (the suite's listeners: counters, reports, worker ledgers, final reports)
from locust import FastHttpUser, constant, task


class SlowToStop(FastHttpUser):
    wait_time = constant(0.5)

    @task
    def health(self):
        self.client.get("/health")

    def on_stop(self):
"""


def slow_to_stop_locustfile(on_stop: str) -> str:
    """The locustfile's text: users asking /health every 0.5 s, whose `on_stop` runs these lines."""
    return HEADER + textwrap.indent(textwrap.dedent(on_stop).strip("\n"), " " * 8) + "\n"
