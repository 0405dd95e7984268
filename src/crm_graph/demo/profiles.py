"""The demo customers' profiles: postal addresses, birth dates, languages and time zones,
drawn from a random stream of their own (the other demo data stays as it was), and passed
through the domain's own normalisation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from crm_graph.domain.addresses import normalise_addresses
from crm_graph.domain.errors import Collector

# Per country: (city, region, postal code prefix, time zone); street names; language.
PLACES: dict[str, tuple[tuple[str, str | None, str, str], ...]] = {
    "US": (
        ("San Francisco", "California", "941", "America/Los_Angeles"),
        ("New York", "NY", "100", "America/New_York"),
        ("Austin", "Texas", "787", "America/Chicago"),
        ("Seattle", "WA", "981", "America/Los_Angeles"),
        ("Boston", "Massachusetts", "021", "America/New_York"),
    ),
    "GB": (
        ("London", None, "SW1A", "Europe/London"),
        ("Manchester", None, "M1", "Europe/London"),
        ("Edinburgh", None, "EH1", "Europe/London"),
    ),
    "DE": (
        ("Berlin", "Berlin", "10", "Europe/Berlin"),
        ("München", "Bayern", "80", "Europe/Berlin"),
        ("Hamburg", "Hamburg", "20", "Europe/Berlin"),
    ),
    "FR": (
        ("Paris", None, "75", "Europe/Paris"),
        ("Lyon", None, "69", "Europe/Paris"),
    ),
}
STREETS = {
    "US": ("Main Street", "Oak Avenue", "Market Street", "Elm Street"),
    "GB": ("High Street", "Station Road", "Church Lane"),
    "DE": ("Hauptstraße", "Bahnhofstraße", "Gartenweg"),
    "FR": ("Rue de la Paix", "Avenue Victor Hugo", "Rue du Moulin"),
}
LANGUAGES = {"US": "en-US", "GB": "en-GB", "DE": "de-DE", "FR": "fr-FR"}
TODAY = date(2026, 1, 1)


def _postal_code(rng: np.random.Generator, country: str, prefix: str) -> str:
    digits = "".join(str(d) for d in rng.integers(0, 10, 3))
    if country == "GB":
        return f"{prefix} {digits[0]}AB"
    width = 5 - len(prefix)
    return prefix + digits.rjust(width, "0")[:width]


def profile(rng: np.random.Generator, country: str, b2b: bool) -> dict[str, Any]:
    """The profile fields of one demo customer in ``country``."""
    city, region, prefix, zone = PLACES[country][int(rng.integers(len(PLACES[country])))]
    streets = STREETS[country]
    street = f"{int(rng.integers(1, 200))} {streets[int(rng.integers(len(streets)))]}"
    if country in ("DE", "FR"):
        number, name = street.split(" ", 1)
        street = f"{name} {number}" if country == "DE" else street
    address = {
        "kind": "billing" if b2b else "shipping",
        "lines": [street],
        "city": city,
        "region": region,
        "postal_code": _postal_code(rng, country, prefix),
        "country": country,
    }
    errors = Collector()
    addresses = normalise_addresses([address] if rng.random() < 0.85 else [], errors)
    errors.check()
    born = None
    if not b2b and rng.random() < 0.7:
        born = TODAY - timedelta(days=int(rng.integers(18 * 365, 80 * 365)))
    return {
        "addresses": addresses,
        "birth_date": born,
        "preferred_language": LANGUAGES[country] if rng.random() < 0.8 else None,
        "time_zone": zone if rng.random() < 0.8 else None,
    }
