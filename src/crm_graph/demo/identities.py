"""Who the demo customers are: hidden traits (rhythm, loyalty, tastes) and fake identities
(names, companies, e-mail addresses and phone numbers that the domain's own checks accept)."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import phonenumbers
from faker import Faker

from crm_graph.demo.catalogue import CATEGORIES
from crm_graph.demo.timeline import HISTORY_DAYS
from crm_graph.domain.errors import Collector
from crm_graph.domain.values import normalise_email, normalise_phone

# (Faker locale, phone region, share of customers)
LOCALES = (
    ("en_US", "US", 0.70),
    ("en_GB", "GB", 0.12),
    ("de_DE", "DE", 0.10),
    ("fr_FR", "FR", 0.08),
)
US_AREA_CODES = ("212", "213", "305", "312", "404", "415", "503", "512", "617", "702", "206", "303")
PERSONAL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")


@dataclass
class Person:
    """A customer's hidden traits; rows are drawn from them."""

    joined: float  # day on the timeline, 0 = two years before NOW
    locale: int
    buyer: bool
    b2b: bool
    rate: float  # relative purchase rhythm
    dropout: float  # chance of leaving after each purchase
    favourites: tuple[int, ...]
    favourite_cdf: tuple[float, ...]
    newsletter: bool
    first: str = ""
    last: str = ""
    company: str | None = None
    left: float | None = None  # day the customer stopped buying (churners only)
    purchases: list[float] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)  # indexes into DemoData.orders


def draw_people(rng: np.random.Generator, fake: Faker, count: int) -> list[Person]:
    joined = np.sort(rng.uniform(0, HISTORY_DAYS - 5, count))
    locales = rng.choice(len(LOCALES), size=count, p=[share for *_, share in LOCALES])
    buyer = rng.random(count) < 0.88
    b2b = rng.random(count) < 0.3
    rate = rng.gamma(shape=1.3, scale=1.0, size=count)
    dropout = rng.beta(0.9, 11.0, size=count)
    two_favourites = rng.random(count) < 0.45
    newsletter = rng.random(count) < 0.55
    people = []
    for i in range(count):
        favourites = tuple(
            int(c)
            for c in rng.choice(len(CATEGORIES), 2 if two_favourites[i] else 1, replace=False)
        )
        locale = LOCALES[int(locales[i])][0]
        person = Person(
            joined=float(joined[i]),
            locale=int(locales[i]),
            buyer=bool(buyer[i]),
            b2b=bool(b2b[i]),
            rate=float(rate[i]),
            dropout=float(dropout[i]),
            favourites=favourites,
            favourite_cdf=(1.0,) if len(favourites) == 1 else (0.65, 1.0),
            newsletter=bool(newsletter[i]),
            first=fake[locale].first_name(),
            last=fake[locale].last_name(),
        )
        if person.b2b:
            person.company = fake[locale].company()
        people.append(person)
    return people


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", plain.lower())


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:40].strip("-") or "company"


def email(rng: np.random.Generator, person: Person, taken: set[str]) -> str:
    first, last = _ascii(person.first) or "customer", _ascii(person.last) or "demo"
    styles = (f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}")
    local = styles[int(rng.integers(len(styles)))]
    if person.company:
        domain = f"{_slug(person.company)}.example.com"
    else:
        domain = PERSONAL_DOMAINS[int(rng.integers(len(PERSONAL_DOMAINS)))]
    address, n = f"{local}@{domain}", 1
    while address in taken:
        n += 1
        address = f"{local}{n}@{domain}"
    taken.add(address)
    errors = Collector()
    normalised = normalise_email(address, errors)
    errors.check()
    return normalised


@functools.cache
def _mobile_example(region: str) -> tuple[int, str]:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return example.country_code, phonenumbers.national_significant_number(example)


def phone(rng: np.random.Generator, region: str) -> str:
    """A random number that phonenumbers accepts as a valid mobile/geographic number."""
    country_code, national = _mobile_example(region)
    for _ in range(100):
        digits = "".join(str(d) for d in rng.integers(0, 10, 7))
        if region == "US":
            head = US_AREA_CODES[int(rng.integers(len(US_AREA_CODES)))]
            number = f"{head}{int(rng.integers(2, 10))}{digits[1:]}"
        else:
            number = national[:-7] + digits
        errors = Collector()
        e164 = normalise_phone(f"+{country_code}{number}", region, errors)
        if e164 is not None:
            return e164
    raise RuntimeError(f"could not generate a valid {region} phone number")
