"""The stack's pure parts: limit and setting parsers, chunking, query terms, the in-process store."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.documents import CHUNK_WORDS, chunk, extension_of
from stack.keystore import MemoryKeyStore
from stack.ratelimit import DEFAULT_LIMITS, RateLimit, parse_rate_limits
from stack.retrieval import query_terms
from stack.settings import database_url


def test_rate_limit_defaults_are_the_contracts():
    assert parse_rate_limits("") == {
        "register": RateLimit(5, "hour"),
        "login": RateLimit(10, "minute"),
        "refresh": RateLimit(20, "minute"),
        "health": RateLimit(100, "minute"),
        "health_detailed": RateLimit(50, "minute"),
    }
    assert RateLimit(10, "minute").describe() == "10 per 1 minute"


def test_rate_limit_overrides():
    assert parse_rate_limits("off") == {}
    limits = parse_rate_limits("login=1000/minute, health=off")
    assert limits["login"] == RateLimit(1000, "minute") and "health" not in limits
    assert limits["register"] == DEFAULT_LIMITS["register"]
    for bad in ("logins=1/minute", "login=1/fortnight", "login=many/minute"):
        with pytest.raises(ValueError):
            parse_rate_limits(bad)


def test_database_urls_map_onto_async_drivers(tmp_path):
    assert database_url("postgresql://u@h:5432/d", tmp_path) == "postgresql+asyncpg://u@h:5432/d"
    assert database_url("postgres://u@h/d", tmp_path) == "postgresql+asyncpg://u@h/d"
    assert database_url(None, tmp_path).startswith("sqlite+aiosqlite:///")
    with pytest.raises(ValueError, match="unsupported"):
        database_url("mysql://x", tmp_path)


@settings(deadline=None)  # a loaded CI runner must not turn a slow example into a failure
@given(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), max_size=1000))
def test_chunks_cover_every_word_in_order_and_are_bounded(words):
    chunks = chunk(" ".join(words))
    assert (not words) == (not chunks)
    covered = " ".join(chunks).split()
    assert set(covered) == set(words)
    assert all(len(c.split()) <= CHUNK_WORDS for c in chunks)
    assert chunks == [] or chunks[0].split() == words[:CHUNK_WORDS]


def test_extension_of():
    assert (
        extension_of("Guide.PDF") == ".pdf"
        and extension_of("notes") == ""
        and extension_of("a.tar.md") == ".md"
    )


def test_query_terms_drop_stop_words_and_punctuation():
    assert query_terms("What is the dose of AMOXICILLIN; for otitis?'") == ["dose", "amoxicillin", "otitis"]
    assert query_terms('" OR 1=1 --') == []


def test_memory_store_windows_expire():
    async def scenario():
        store = MemoryKeyStore()
        assert [await store.incr_window("k", 1) for _ in range(3)] == [1, 2, 3]
        await store.put("deny", "1", 0.05)
        assert await store.any_exists(["x", "deny"])
        await asyncio.sleep(0.06)
        assert not await store.any_exists(["deny"])
        await store.put("cache:a", "1", 10)
        await store.put("cache:b", "1", 10)
        assert await store.count_prefix("cache:") == 2
        assert await store.delete_prefix("cache:") == 2 and await store.get("cache:a") is None

    asyncio.run(scenario())


def test_memory_store_stays_bounded():
    async def scenario():
        store = MemoryKeyStore(max_entries=10)
        for n in range(50):
            await store.put(f"k{n}", "v", 60)
        assert await store.count_prefix("k") <= 10 and await store.get("k49") == "v"

    asyncio.run(scenario())
