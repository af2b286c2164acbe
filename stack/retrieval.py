"""Full-text retrieval of the KB chunks that best match a question: PostgreSQL text search or SQLite FTS5."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stack.database import dialect_of, kb_generation

_WORD = re.compile(r"[a-z0-9]+")
# FTS5 has no stop-word list: without this, "what is the ..." would match every chunk equally.
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "about",
        "into",
        "not",
        "no",
        "any",
        "all",
    ]
)
MAX_TERMS = 16


@dataclass(frozen=True)
class Passage:
    document_id: str
    title: str
    source_type: str
    chunk_index: int
    content: str
    score: float


def query_terms(question: str) -> list[str]:
    terms: list[str] = []
    for word in _WORD.findall(question.lower()):
        if len(word) > 1 and word not in _STOP_WORDS and word not in terms:
            terms.append(word)
    return terms[:MAX_TERMS]


_POSTGRES_SEARCH = text(
    """
    SELECT c.document_id, d.title, d.source_type, c.chunk_index, c.content, ts_rank(c.tsv, q) AS score
    FROM kb_chunks c JOIN kb_documents d ON d.id = c.document_id, to_tsquery('english', :query) q
    WHERE c.tsv @@ q
    ORDER BY score DESC, c.id
    LIMIT :limit
    """
)

# bm25() is lower-is-better; negated so that both dialects report "higher score, better match".
_SQLITE_SEARCH = text(
    """
    SELECT c.document_id, d.title, d.source_type, c.chunk_index, c.content, -bm25(kb_chunks_fts) AS score
    FROM kb_chunks_fts JOIN kb_chunks c ON c.id = kb_chunks_fts.rowid JOIN kb_documents d ON d.id = c.document_id
    WHERE kb_chunks_fts MATCH :query
    ORDER BY bm25(kb_chunks_fts), c.id
    LIMIT :limit
    """
)


async def search(engine: AsyncEngine, question: str, limit: int) -> list[Passage]:
    terms = query_terms(question)
    if not terms or limit <= 0:
        return []
    if dialect_of(engine) == "postgresql":
        statement, query = _POSTGRES_SEARCH, " | ".join(terms)
    else:
        statement, query = _SQLITE_SEARCH, " OR ".join(f'"{t}"' for t in terms)
    async with engine.connect() as conn:
        rows = await conn.execute(statement, {"query": query, "limit": limit})
        return [Passage(**{**row, "score": float(row["score"])}) for row in rows.mappings()]


async def ensure_generation(engine: AsyncEngine) -> None:
    try:
        async with engine.begin() as conn:
            if (await conn.execute(select(kb_generation.c.id))).first() is None:
                await conn.execute(kb_generation.insert().values(id=1, generation=0))
    except IntegrityError:  # another worker inserted it first
        pass


async def generation(conn: AsyncConnection) -> int:
    return (
        await conn.execute(select(kb_generation.c.generation).where(kb_generation.c.id == 1))
    ).scalar_one()


async def bump_generation(conn: AsyncConnection) -> None:
    """Call in the transaction that changes the chunks: the new generation commits with them."""
    await conn.execute(
        update(kb_generation).where(kb_generation.c.id == 1).values(generation=kb_generation.c.generation + 1)
    )


def passage_to_json(passage: Passage) -> dict:
    return asdict(passage)


def citations(passages: list[Passage]) -> list[dict]:
    """One citation per document, in order of its best passage."""
    cited: dict[str, dict] = {}
    for passage in passages:
        if passage.document_id not in cited:
            cited[passage.document_id] = {
                "document_id": passage.document_id,
                "title": passage.title,
                "source_type": passage.source_type,
                "chunk_index": passage.chunk_index,
                "score": round(passage.score, 6),
            }
    return list(cited.values())
