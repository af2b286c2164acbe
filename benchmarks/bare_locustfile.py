"""The yardstick for the suite's own cost: the barest FastHttpUser, GET /health and nothing else.

Each user sends from its own loopback address so the health endpoint's per-IP limit does not
turn the yardstick into a 429 benchmark. Its pace is set by --bare-rate (requests/s per user) and
--bare-pacing: "random" waits a uniformly drawn think time of mean 1/rate, as the suite's users do,
so requests arrive at independent moments; "constant" keeps each user on a fixed beat.

The pacing matters on its own: on this 2-core VM the same GET /health at the same rate costs the
generator about twice the CPU per request with random think times as with a fixed beat (0.60 vs
1.15-1.28 ms; likely because random arrivals more often wake the idle process for one request
alone: 536 against 382 epoll waits for the same ~296 requests under strace). A like-for-like
yardstick for the suite is therefore the random one.
"""

import itertools
import json
import random
import time
from pathlib import Path

from locust import FastHttpUser, constant_throughput, events, task

_numbers = itertools.count(1)


@events.init_command_line_parser.add_listener
def add_options(parser) -> None:
    parser.add_argument("--bare-rate", type=float, default=1.0, help="requests per second per user")
    parser.add_argument("--bare-pacing", choices=("random", "constant"), default="random",
                        help="think time drawn uniformly from 0 to 2/rate, or a fixed beat of 1/rate")
    parser.add_argument("--bare-cpu-file", default="", help="where to write the CPU used while loading")


_cpu_at_start: list[float] = []


@events.test_start.add_listener
def note_cpu(**_kwargs) -> None:
    _cpu_at_start[:] = [time.process_time(), time.monotonic()]


@events.test_stop.add_listener
def write_cpu(environment, **_kwargs) -> None:
    # measured the same way as the suite's metrics.json "generator" figure
    if environment.parsed_options.bare_cpu_file and _cpu_at_start:
        cpu, wall = _cpu_at_start
        Path(environment.parsed_options.bare_cpu_file).write_text(json.dumps(
            {"cpu_s": time.process_time() - cpu, "wall_s": time.monotonic() - wall}))


class BareHealthUser(FastHttpUser):
    def wait_time(self):
        options = self.environment.parsed_options
        if options.bare_pacing == "random":
            return random.uniform(0.0, 2.0 / options.bare_rate)
        return constant_throughput(options.bare_rate)(self)

    def on_start(self) -> None:
        n = next(_numbers)
        self.headers = {"X-Forwarded-For": f"127.9.{n // 250}.{n % 250 + 1}"}

    @task
    def health(self) -> None:
        self.client.get("/health", headers=self.headers)
