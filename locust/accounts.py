"""Who each virtual user is: its account and its own client address.

The gateway rate-limits per client IP and takes the IP from X-Forwarded-For when the peer is
loopback. Each virtual user gets its own 127.x.y.z so that per-IP limits behave as they would
for distinct real clients; in distributed mode each worker draws from its own /16.

Accounts come from an accounts file seeded before the load (the reference stack's
`python -m stack users seed`, or one a team writes for its own target), or, without one, each
virtual user registers a `user` account of its own (register answers 400 when it exists).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PASSWORD = "LoadTest-Passw0rd!"
EMAIL_DOMAIN = "loadtest.voiceassist.test"


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    role: str = "user"
    full_name: str = "Load Test User"


class ClientAddresses:
    """Hands out distinct loopback addresses: 127.<worker+1>.<hi>.<lo>, never .0 or .255."""

    def __init__(self, worker_index: int = 0) -> None:
        self._second_octet = 1 + worker_index % 254
        self._next = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            n = next(self._next)
        hi, lo = divmod(n % (254 * 254), 254)
        return f"127.{self._second_octet}.{hi + 1}.{lo + 1}"


class AccountPool:
    """Accounts by kind; each call to `take` hands out the next one of that kind, round-robin."""

    def __init__(self, accounts: list[Account]) -> None:
        self._by_role: dict[str, list[Account]] = {}
        for account in accounts:
            self._by_role.setdefault(account.role, []).append(account)
        self._cursors = {role: itertools.cycle(group) for role, group in self._by_role.items()}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> AccountPool:
        try:
            entries = json.loads(Path(path).read_text())
            # "kind" (regular, power, admin, viewer) says which user type an account is for; "role" is
            # its role on the server, enough when a team's file has no kinds
            accounts = [Account(e["email"], e["password"], e.get("kind") or e.get("role", "user"))
                        for e in entries["accounts"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SystemExit(f"accounts file {path}: cannot be read ({error}); expected "
                             '{"accounts": [{"email", "password", "role"}, ...]}') from error
        return cls(accounts)

    def roles(self) -> set[str]:
        return set(self._by_role)

    def take(self, kind: str) -> Account | None:
        with self._lock:
            cursor = self._cursors.get(kind)
            return next(cursor) if cursor else None


def self_registered(worker_index: int, number: int, password: str = DEFAULT_PASSWORD) -> Account:
    """The account a virtual user registers for itself when no accounts file was given."""
    return Account(f"loadtest-w{worker_index}-u{number}@{EMAIL_DOMAIN}", password)
