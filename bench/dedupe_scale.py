"""Benchmark: the duplicate finder on 100,000 customers with 5% planted duplicates.

    .venv/bin/python bench/dedupe_scale.py [--customers N] [--databases sqlite,postgresql]

Customers are generated (names from a few thousand given names and surnames, an address,
a birth date for 80%, an e-mail for 60% and a phone for 50% of them) and written straight into
a fresh database (setting up is not timed). 5% of them are copies of others with the noise
real files have: a typo in the name, given name and surname swapped, a nickname, a day/month
swap or one digit off in the birth date, a missing e-mail, a postal code one digit off. Two
copies of one customer are a planted pair too.

Timed, each database in a process of its own: the full matching (``crm-graph duplicates
rerun``, start-up included) with its CPU seconds and peak memory (max RSS of that process:
the machine is shared, and wall time then says little), and the
incremental match of one changed customer (:func:`crm_graph.domain.matching.rematch` in the
unit of work of an update; median and 95th percentile of 50). Also printed: how many planted
pairs the kept pairs hold at 0.5 and how many kept pairs are not planted. Goals: full
matching < 60 s on SQLite and PostgreSQL, peak memory < 1 GB, incremental match < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ADMIN_DSN = os.environ.get(
    "CRM_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
GIVEN = (
    "james john robert michael william david richard joseph thomas charles christopher daniel "
    "matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy "
    "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty "
    "margaret sandra ashley kimberly emily donna michelle carol amanda melissa deborah stephanie "
    "rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole "
    "helen samantha katherine christine debra rachel carolyn janet catherine maria heather "
    "diane ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith "
    "hannah lukas leon finn jonas elias noah felix paul ben luis max henry oskar emil anton "
    "sophie marie mia hanna lea lina ella clara lena luisa emilia ida lotta greta frieda nora "
    "louis gabriel arthur jules adam hugo raphael lucas leo maël ethan nathan sacha chloe "
    "camille lou jade alice louise ines manon zoe"
)
SYLLABLES = (
    "an ber ca del en fer gal han is jor kel lan mar nor ol per quin ros sal tor ur val wes "
    "xan yor zel bach berg mann son sen ton ley ford wood field stein hardt ez ini ov ski"
)
NICKNAMES = {
    "robert": "bob",
    "william": "bill",
    "elizabeth": "liz",
    "margaret": "peggy",
    "richard": "dick",
    "james": "jim",
    "katherine": "kate",
    "joseph": "joe",
}
COUNTRIES = ("US", "GB", "DE", "FR", "AU")
STREET_KINDS = ("Street", "Road", "Lane", "Avenue", "Way", "Close", "Place")


def _words(rng: random.Random, count: int, syllables: tuple[int, int]) -> list[str]:
    parts = SYLLABLES.split()
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(rng.choice(parts) for _ in range(rng.randint(*syllables))))
    return sorted(found)


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word))
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + rng.choice("aeioulnrst") + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def generate(count: int, seed: int = 11) -> tuple[list[dict], set[tuple[int, int]]]:
    """Customer rows (ids 1..count) and the planted pairs, lower id first: an original and
    its copy, or two copies of one original."""
    rng = random.Random(seed)
    surnames = _words(rng, 20_000, (2, 4))
    places = [
        (name.title(), f"{index:05d}", rng.choice(COUNTRIES))
        for index, name in enumerate(_words(rng, 3_000, (2, 3)), start=10_000)
    ]
    streets = [f"{name.title()} {rng.choice(STREET_KINDS)}" for name in _words(rng, 500, (2, 3))]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    originals = count - count // 20
    rows, planted = [], set()
    for pk in range(1, originals + 1):
        given, surname = rng.choice(GIVEN.split()), rng.choice(surnames)
        city, postal, country = rng.choice(places)
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
        rows.append(
            {
                "id": pk,
                "name": f"{given.title()} {surname.title()}",
                "email": f"{given}.{surname}{pk}@example.com" if rng.random() < 0.6 else None,
                "phone": f"+1415{rng.randrange(2_000_000, 9_999_999)}"
                if rng.random() < 0.5
                else None,
                "addresses": [
                    {
                        "kind": "shipping",
                        "lines": [f"{rng.randrange(1, 300)} {rng.choice(streets)}"],
                        "city": city,
                        "region": None,
                        "postal_code": postal,
                        "country": country,
                    }
                ],
                "birth_date": born if rng.random() < 0.8 else None,
                "created_at": now,
            }
        )
    copies: dict[int, list[int]] = {}  # per original: it and its copies, all one person
    for pk in range(originals + 1, count + 1):
        source = rng.choice(rows[:originals])
        copies.setdefault(source["id"], [source["id"]])
        copy = {**source, "id": pk, "addresses": [dict(a) for a in source["addresses"]]}
        given, surname = source["name"].lower().split(" ", 1)
        noise = rng.randrange(6)
        if noise == 0:
            surname = _typo(rng, surname)
        elif noise == 1:
            given, surname = surname, given
        elif noise == 2:
            given = NICKNAMES.get(given, _typo(rng, given))
        elif noise == 3 and copy["birth_date"] and copy["birth_date"].day <= 12:
            born = copy["birth_date"]
            copy["birth_date"] = born.replace(month=born.day, day=born.month)
        elif noise == 4 and copy["birth_date"]:
            copy["birth_date"] = copy["birth_date"] + timedelta(days=365)
        else:
            code = copy["addresses"][0]["postal_code"]
            copy["addresses"][0]["postal_code"] = (
                code[:-1] + str((int(code[-1]) + 1) % 10) if code[-1].isdigit() else code
            )
        copy["name"] = f"{given.title()} {surname.title()}"
        if rng.random() < 0.3:
            copy["email"] = None
        rows.append(copy)
        planted.update((other, pk) for other in copies[source["id"]])
        copies[source["id"]].append(pk)
    return rows, planted


async def seed(url: str, rows: list[dict]) -> None:
    from crm_graph.db.batch_writes import insert_records
    from crm_graph.db.engine import create_engine, write_session
    from crm_graph.db.migrate import upgrade
    from crm_graph.db.models import Customer, row_defaults
    from crm_graph.plugins_manager import create_plugin_manager
    from crm_graph.settings import Settings

    engine = create_engine(url)
    try:
        await upgrade(engine, create_plugin_manager(Settings(database_url=url, plugins=[]), []))
        now = rows[0]["created_at"]
        full = [{**row_defaults(Customer, now), **row} for row in rows]
        columns = list(full[0])
        for start in range(0, len(full), 20_000):
            async with write_session(engine) as session:
                records = [[r[c] for c in columns] for r in full[start : start + 20_000]]
                await insert_records(session, Customer.__table__, columns, records, audited=False)
    finally:
        await engine.dispose()


async def incremental(url: str, ids: list[int]) -> tuple[list[float], int]:
    """Milliseconds of rematching one changed customer, each in an update's unit of work."""
    from sqlalchemy import func, select

    from crm_graph.db.engine import create_engine, read_session, write_session
    from crm_graph.db.models import Customer, CustomerDuplicate
    from crm_graph.domain.matching import rematch

    engine = create_engine(url)
    times = []
    try:
        for pk in ids:
            async with write_session(engine) as session:
                customer = await session.get(Customer, pk)
                customer.name = customer.name + "e"
                await session.flush()
                started = time.perf_counter()
                await rematch(session, [pk])
                times.append((time.perf_counter() - started) * 1000)
        async with read_session(engine) as session:
            kept = await session.scalar(select(func.count()).select_from(CustomerDuplicate))
    finally:
        await engine.dispose()
    return times, kept


async def kept_pairs(url: str) -> set[tuple[int, int]]:
    from sqlalchemy import select

    from crm_graph.db.engine import create_engine, read_session
    from crm_graph.db.models import CustomerDuplicate

    engine = create_engine(url)
    try:
        async with read_session(engine) as session:
            rows = await session.execute(
                select(CustomerDuplicate.customer_id, CustomerDuplicate.other_id).where(
                    CustomerDuplicate.score >= 0.5
                )
            )
            return {(a, b) for a, b in rows}
    finally:
        await engine.dispose()


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def run(kind: str, count: int, tmp: Path) -> None:
    rows, planted = generate(count)
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp}/scale.db"
    else:
        asyncio.run(_admin('DROP DATABASE IF EXISTS "crm_dedupe_bench" WITH (FORCE)'))
        asyncio.run(_admin('CREATE DATABASE "crm_dedupe_bench"'))
        url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url += "/crm_dedupe_bench"
    asyncio.run(seed(url, rows))
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "crm-graph"), "duplicates", "rerun", "--quiet"],
        check=True,
        env={**os.environ, "CRM_DATABASE_URL": url, "CRM_PLUGINS": ""},
    )
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    kept = asyncio.run(kept_pairs(url))
    found = len(planted & kept)
    rng = random.Random(3)
    times, _ = asyncio.run(incremental(url, rng.sample(range(1, count + 1), 50)))
    times.sort()
    print(
        f"| {kind} | {count:,} | {len(planted):,} | {seconds:.1f} s | {cpu:.1f} s | {peak:.0f} MB | "
        f"{found / len(planted):.3f} | {len(kept - planted):,} | "
        f"{statistics.median(times):.1f} ms | {times[int(len(times) * 0.95) - 1]:.1f} ms |",
        flush=True,
    )
    if kind == "postgresql":
        asyncio.run(_admin('DROP DATABASE IF EXISTS "crm_dedupe_bench" WITH (FORCE)'))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    kinds = args.databases.split(",")
    if len(kinds) > 1:  # one process per database: each its own peak memory
        print(
            "| database | customers | planted pairs | full matching | its CPU | peak memory | "
            "planted found (>= 0.5) | other pairs kept (>= 0.5) | incremental median | "
            "incremental p95 |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
        for kind in kinds:
            command = [sys.executable, __file__, "--databases", kind]
            subprocess.run([*command, "--customers", str(args.customers)], check=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(kinds[0], args.customers, Path(tmp))


if __name__ == "__main__":
    main()
