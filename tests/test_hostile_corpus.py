"""The committed hostile corpus (tests/corpus/hostile.jsonl) against the composed schema.

Zero unexpected server errors and zero leaked stack traces or SQL text. An unexpected error
answers the code INTERNAL_ERROR, so seeing that code means something crashed. How fast
rejections are is a benchmark (``bench/hostile.py``), not a test: a timed test fails on a
busy machine, not on slow code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from crm_graph.settings import Settings
from crm_graph.testing import app_client

CORPUS = Path(__file__).parent / "corpus" / "hostile.jsonl"
# SQL keywords in upper case only: graphql-core's own messages say "must not select ...".
LEAKS = re.compile(
    r"(?i:Traceback|File \"|sqlalchemy|asyncpg|sqlite3|psycopg)"
    r"|SELECT |INSERT |UPDATE |DELETE FROM"
)


def _cases() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines()]


def test_corpus_is_large_enough() -> None:
    assert len(_cases()) >= 500


async def test_hostile_corpus(database_url: str) -> None:
    settings = Settings(
        database_url=database_url, plugins=None, disabled_plugins=["loyalty"], env="production"
    )
    failures: list[str] = []
    async with app_client(settings) as client:
        for case in _cases():
            body = case["body"].encode("utf-8", "surrogatepass")
            response = await client.http.post(
                "/graphql", content=body, headers={"content-type": "application/json"}
            )
            text = response.text
            if response.status_code >= 500:
                failures.append(f"{case['name']}: HTTP {response.status_code}")
            elif "INTERNAL_ERROR" in text:
                failures.append(f"{case['name']}: unexpected server error")
            elif LEAKS.search(text) and not _echoes_input(case, text):
                failures.append(f"{case['name']}: leaked internals: {text[:200]}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


def _echoes_input(case: dict, text: str) -> bool:
    """Injection strings (e.g. "DROP TABLE") may come back as the data the client stored."""
    return any(word in case["body"] for word in LEAKS.findall(text))
