"""Each virtual user is a distinct client: its own loopback address, its own account."""

import json
import sys

import pytest

from scripts import layout

sys.path.insert(0, str(layout.SUITE))
from accounts import Account, AccountPool, ClientAddresses, self_registered


def test_addresses_are_distinct_loopback_and_never_network_or_broadcast():
    addresses = ClientAddresses(worker_index=0)
    drawn = [addresses.next() for _ in range(70_000)]
    assert len(set(drawn[: 254 * 254])) == 254 * 254
    for address in drawn[:: 997]:
        octets = [int(part) for part in address.split(".")]
        assert octets[0] == 127 and all(1 <= octet <= 254 for octet in octets[1:])


def test_workers_draw_from_separate_ranges():
    first, second = ClientAddresses(0), ClientAddresses(1)
    assert {first.next() for _ in range(500)}.isdisjoint({second.next() for _ in range(500)})


def test_pool_hands_out_accounts_of_a_role_round_robin():
    pool = AccountPool([Account("a@x", "p"), Account("b@x", "p"), Account("admin@x", "p", "admin")])
    assert [pool.take("user").email for _ in range(3)] == ["a@x", "b@x", "a@x"]
    assert pool.take("admin").email == "admin@x"
    assert pool.take("viewer") is None


def test_accounts_file_is_read_and_a_bad_one_is_named(tmp_path):
    good = tmp_path / "accounts.json"
    good.write_text(json.dumps({"accounts": [{"email": "a@x", "password": "p", "role": "admin"}]}))
    assert AccountPool.from_file(good).roles() == {"admin"}
    bad = tmp_path / "broken.json"
    bad.write_text('{"accounts": [{"email": ')
    with pytest.raises(SystemExit, match="broken.json"):
        AccountPool.from_file(bad)


def test_self_registered_accounts_are_stable_per_worker_and_number():
    assert self_registered(0, 3) == self_registered(0, 3)
    assert self_registered(0, 3).email != self_registered(1, 3).email
