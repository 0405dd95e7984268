"""The demo's customer rows: identities plus what their purchases made of them (lifecycle
stage, tags such as ``vip``, custom attributes) and their profiles (addresses, birth dates)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from crm_graph.demo.identities import LOCALES, Person, email, phone
from crm_graph.demo.profiles import profile
from crm_graph.demo.rows import DemoData, external_id
from crm_graph.demo.timeline import HISTORY_DAYS, moment

SOURCES = ("organic", "paid-search", "social", "referral", "event", "partner")
INDUSTRIES = ("retail", "hospitality", "software", "healthcare", "education", "logistics")


def _lifecycle(rng: np.random.Generator, person: Person, spend: Decimal, vip: Decimal) -> str:
    if not person.orders:
        if person.b2b:
            return "opportunity" if rng.random() < 0.4 else "prospect"
        return "subscriber" if person.newsletter else "lead"
    last = person.purchases[-1]
    if person.left is not None and HISTORY_DAYS - last > 120 and rng.random() < 0.7:
        return "churned"
    return "evangelist" if spend >= vip else "customer"


def customer_rows(
    rng: np.random.Generator, people: list[Person], data: DemoData
) -> list[dict[str, Any]]:
    spend = [sum((data.orders[k][1]["total"] for k in p.orders), Decimal(0)) for p in people]
    vip = sorted(spend)[int(len(spend) * 0.95)] if spend else Decimal(0)
    vip = max(vip, Decimal("0.01"))
    taken: set[str] = set()
    rows = []
    profiles = rng.spawn(1)[0]  # a stream of its own: the rest of the demo draws as before
    for i, person in enumerate(people):
        region = LOCALES[person.locale][1]
        source = SOURCES[int(rng.integers(len(SOURCES)))]
        tags = [
            tag
            for tag, present in (
                ("newsletter", person.newsletter),
                ("b2b", person.b2b),
                ("vip", spend[i] >= vip),
                ("referral", source == "referral"),
                ("early-adopter", person.joined < 90),
                ("wholesale", person.b2b and len(person.orders) >= 12),
            )
            if present
        ]
        attributes: dict[str, Any] = {
            "source": source,
            "country": region,
            "newsletter_opt_in": person.newsletter,
            "preferred_channel": ("email", "phone", "sms", "chat")[int(rng.integers(4))],
        }
        if person.b2b:
            attributes["industry"] = INDUSTRIES[int(rng.integers(len(INDUSTRIES)))]
            attributes["employees"] = int(rng.lognormal(3.5, 1.2)) + 1
        joined = moment(person.joined)
        rows.append(
            {
                "external_id": external_id(i),
                "name": f"{person.first} {person.last}",
                "email": email(rng, person, taken) if rng.random() < 0.97 else None,
                "phone": phone(rng, region) if rng.random() < 0.75 else None,
                "company": person.company,
                "lifecycle_stage": _lifecycle(rng, person, spend[i], vip),
                "tags": tags,
                "attributes": attributes,
                **profile(profiles, region, person.b2b),
                "created_at": joined,
                "updated_at": moment(min(person.joined + rng.uniform(0, 60), HISTORY_DAYS)),
                "deleted_at": None,
                "version": 1,
            }
        )
    return rows
