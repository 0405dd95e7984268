"""Property-based fuzzing of the whole GraphQL API, for each role, on both databases.

hypothesis-graphql writes queries and mutations from the composed schema (core and the bundled
analytics and service plugins) with hostile scalars (tests/fuzz_support.py): each mutation a few times,
then ``CRM_FUZZ_EXAMPLES`` documents of any kind (200 by default; ``make test-deep`` runs
thousands). The seed is fixed (``derandomize``), so a failure reproduces. Writing documents
from this schema costs far more than running them, so they are written once and every role
runs all of them, over HTTP, against an in-process app seeded with canary personal data.

Every response must give each error a code, show no internals, and show none of the canaries
to a role without ``pii:read``; after every mutation that committed, each list, the event log
and every export must still read. The test reports every distinct failure, not only the first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache

from fuzz_support import (
    EXTRA_ROLES,
    ROLES,
    Problems,
    check_response,
    check_still_readable,
    custom_scalars,
    marks,
    seed,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries
from hypothesis_graphql._strategies import sampler

import crm_analytics
import crm_service
from crm_graph.auth.permissions import WILDCARD
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_graph.web.app import create_app

# hypothesis-graphql sizes documents to the schema: about 40 fields each for this one, which
# makes writing them the suite's slowest step. Fifteen at most still reach every field over
# the corpus (each mutation runs several times) and keep the run within its time budget.
sampler.MAX_FIELDS = 15

EXAMPLES = int(os.environ.get("CRM_FUZZ_EXAMPLES", "200"))
PER_MUTATION = 4
PLUGINS = [crm_analytics, crm_service]
QUERY, INVALID = "<query>", "<invalid>"


def app_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        env="development",  # the environment that shows the most of an error
        roles=EXTRA_ROLES,
        webhook_allow_private_targets=True,
        webhook_workers=0,
    )


def _draw(strategy: st.SearchStrategy[tuple[str, str]], count: int) -> Iterator[tuple[str, str]]:
    drawn: list[tuple[str, str]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: tuple[str, str]) -> None:
        drawn.append(example)

    collect()
    return iter(drawn)


@cache
def corpus(examples: int) -> tuple[tuple[str, str], ...]:
    """``(kind, document)`` pairs: each mutation ``PER_MUTATION`` times, then ``examples`` of
    anything (queries, mutations, and documents that break the schema on purpose)."""
    schema = create_app(app_settings("sqlite+aiosqlite://"), PLUGINS).state.schema
    graphql_schema = schema._schema
    scalars = custom_scalars()
    names = sorted(graphql_schema.mutation_type.fields)
    strategies = {
        name: mutations(graphql_schema, fields=[name], custom_scalars=scalars) for name in names
    }
    strategies[QUERY] = queries(graphql_schema, custom_scalars=scalars)
    strategies[INVALID] = st.one_of(
        queries(graphql_schema, custom_scalars=scalars, mode=Mode.NEGATIVE),
        mutations(graphql_schema, custom_scalars=scalars, mode=Mode.NEGATIVE),
    )
    documents: list[tuple[str, str]] = []
    for name in names:
        documents += _draw(strategies[name].map(lambda doc, n=name: (n, doc)), PER_MUTATION)
    # About 40% queries, 5% broken documents, the rest mutations.
    kinds = st.sampled_from([*[QUERY] * (len(names) * 2 // 3), INVALID, INVALID, *names])
    mixed = kinds.flatmap(lambda kind: strategies[kind].map(lambda doc: (kind, doc)))
    documents += _draw(mixed, examples)
    return tuple(documents)


class Run:
    """One role's pass over the corpus; problems keep the role, the kind and the document."""

    def __init__(self, admin: GraphQLClient, role: str) -> None:
        self.admin = admin
        self.role = role
        self.caller = admin.acting_as(role, f"fuzz-{role}")
        grants = admin.app.state.crm.auth.policy.grants(role) or {}
        self.pii = "pii:read" in grants or WILDCARD in grants  # admin holds "*"
        self.problems: dict[tuple[str, str, str], str] = {}
        self.mutated: set[str] = set()

    async def one(self, kind: str, document: str, after: str) -> str:
        problems = Problems()
        before = await marks(self.admin)
        body = json.dumps({"query": document}).encode()  # ASCII: lone surrogates survive
        response = await self.caller.http.post(
            "/graphql",
            content=body,
            headers={**self.caller.headers, "Content-Type": "application/json"},
        )
        check_response(response, self.pii, problems)
        if kind not in (QUERY, INVALID):
            self.mutated.add(kind)
            if await marks(self.admin) != before:
                after = await check_still_readable(self.admin, after, problems)
        for found, detail in problems.found:
            key = (found, kind, detail[:40])
            self.problems.setdefault(key, f"{self.role} {kind}: {detail}\n{document[:1500]}")
        return after


async def fuzz(database_url: str) -> tuple[set[str], dict[tuple[str, ...], str]]:
    documents = corpus(EXAMPLES)
    mutated: set[str] = set()
    problems: dict[tuple[str, ...], str] = {}
    async with app_client(app_settings(database_url), plugins=PLUGINS) as admin:
        for number, role in enumerate(ROLES):
            await seed(admin, number)  # again for each role: the one before may erase them
            stream = await admin.data("{ eventStream { latestCursor } }")
            after = stream["eventStream"]["latestCursor"]
            run = Run(admin, role)
            for kind, document in documents:
                after = await run.one(kind, document, after)
            mutated |= run.mutated
            problems.update({(role, *key): text for key, text in run.problems.items()})
    return mutated, problems


async def test_fuzzed_requests_keep_every_rule(database_url: str) -> None:
    documents = corpus(EXAMPLES)
    assert len(documents) >= EXAMPLES
    mutated, problems = await fuzz(database_url)
    app = create_app(app_settings(database_url), PLUGINS)
    assert mutated == set(app.state.schema._schema.mutation_type.fields)
    report = "\n\n".join(f"[{' / '.join(key)}] {text}" for key, text in sorted(problems.items()))
    assert not problems, f"{len(problems)} distinct failures:\n{report}"
