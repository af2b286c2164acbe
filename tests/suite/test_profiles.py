"""Profiles are read once, from the Locust config files, and scale without being edited."""

import pytest

from scripts import profiles
from scripts.profiles import ProfileError, parse_timespan


def test_smoke_profile_has_the_seeds_numbers():
    smoke = profiles.load("smoke")
    assert (smoke.users, smoke.run_time_s) == (10, 120)
    assert smoke.spawn_rate > 0


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("2m", 120), ("1h30m", 5400), ("1h2m3s", 3723)])
def test_timespans_in_locusts_formats(text, seconds):
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "m", "-5", "1.5m"])
def test_bad_timespans_are_refused(text):
    with pytest.raises(ValueError, match="time span"):
        parse_timespan(text)


def test_scale_shrinks_users_and_duration_but_explicit_figures_win():
    smoke = profiles.load("smoke")
    small = smoke.scaled(0.2)
    assert (small.users, small.run_time_s, small.scale) == (2, 24, 0.2)
    assert smoke.scaled(0.2, users=7, run_time_s=15).users == 7
    assert smoke.scaled(0.2, users=7, run_time_s=15).run_time_s == 15
    assert smoke.scaled(0.001).users == 1  # never below one user
    with pytest.raises(ProfileError, match="scale"):
        smoke.scaled(0)


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ProfileError, match="no profile 'nope'.*smoke"):
        profiles.load("nope")


def test_every_profile_of_the_seed_exists_and_loads():
    assert set(profiles.available()) >= {"smoke", "load", "stress", "spike", "soak", "user-journey",
                                          "admin-workflow"}
    for name in profiles.available():
        loaded = profiles.load(name)
        assert loaded.users >= 1 and loaded.run_time_s >= 60 and loaded.locustfiles


def test_a_profile_naming_a_missing_locustfile_is_refused(tmp_path):
    (tmp_path / "ghost.conf").write_text(
        "profile = ghost\nlocustfile = nowhere.py\nusers = 1\nspawn-rate = 1\nrun-time = 1m\n")
    with pytest.raises(ProfileError, match="nowhere.py"):
        profiles.load("ghost", folder=tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("profile = custom\nlocustfile = locustfile.py\nusers = 5\nrun-time = 1m\n", "spawn-rate"),
        ("profile = custom\nlocustfile = locustfile.py\nusers = five\nspawn-rate = 1\nrun-time = 1m\n", "five"),
        ("profile = custom\nlocustfile = locustfile.py\nusers = 5\nspawn-rate = 1\nrun-time = soon\n", "soon"),
        ("profile = other\nlocustfile = locustfile.py\nusers = 5\nspawn-rate = 1\nrun-time = 1m\n", "own profile"),
        ("profile = custom\nlocustfile = locustfile.py\nusers = 5\nspawn-rate = 1\nrun-time = 1m\npaired-reruns = -1\n",
         "paired-reruns is how many blocks .* not -1"),
    ],
)
def test_malformed_profiles_name_what_is_wrong(tmp_path, content, message):
    (tmp_path / "custom.conf").write_text(content)
    with pytest.raises(ProfileError, match=message):
        profiles.load("custom", folder=tmp_path)
