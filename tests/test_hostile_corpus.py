"""The committed hostile corpus (tests/corpus/hostile.jsonl) against the composed schema.

Zero unexpected server errors, zero leaked stack traces or SQL text, and every rejection
answered quickly. An unexpected error answers the code INTERNAL_ERROR, so seeing that code
means something crashed.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from crm_graph.settings import Settings
from crm_graph.testing import app_client

CORPUS = Path(__file__).parent / "corpus" / "hostile.jsonl"
# SQL keywords in upper case only: graphql-core's own messages say "must not select ...".
LEAKS = re.compile(
    r"(?i:Traceback|File \"|sqlalchemy|asyncpg|sqlite3|psycopg)"
    r"|SELECT |INSERT |UPDATE |DELETE FROM"
)
REJECTION_BUDGET_S = 0.050


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
            elapsed = []
            for _attempt in range(
                3
            ):  # the fastest of three: a busy CI core is not the code's fault
                started = time.perf_counter()
                response = await client.http.post(
                    "/graphql", content=body, headers={"content-type": "application/json"}
                )
                elapsed.append(time.perf_counter() - started)
                rejected = _rejected(response)
                if not rejected or min(elapsed) < REJECTION_BUDGET_S:
                    break
            text = response.text
            if response.status_code >= 500:
                failures.append(f"{case['name']}: HTTP {response.status_code}")
            elif "INTERNAL_ERROR" in text:
                failures.append(f"{case['name']}: unexpected server error")
            elif LEAKS.search(text.replace(case["body"][:0], "")) and not _echoes_input(case, text):
                failures.append(f"{case['name']}: leaked internals: {text[:200]}")
            elif rejected and min(elapsed) >= REJECTION_BUDGET_S:
                failures.append(f"{case['name']}: rejection took {min(elapsed) * 1000:.0f} ms")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


def _rejected(response: Any) -> bool:
    """A status of 400 or more, GraphQL errors, or a mutation's user errors. Not an accepted
    mutation, whose ``errors`` list is empty: it commits a write, whose time is the disk's."""
    if response.status_code >= 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    return bool(body.get("errors")) or _has_user_errors(body.get("data"))


def _has_user_errors(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get("errors")) or any(_has_user_errors(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_user_errors(v) for v in value)
    return False


def _echoes_input(case: dict, text: str) -> bool:
    """Injection strings (e.g. "DROP TABLE") may come back as the data the client stored."""
    return any(word in case["body"] for word in LEAKS.findall(text))
