"""Comparing two customers field by field, for the duplicate finder (no database here).

A :class:`Profile` is what comparing looks at, normalised once per customer: e-mail (case
and plus-addressing folded), phone (E.164), given name and surname (accents, case and
punctuation folded; honorifics dropped), company, birth date and addresses. :func:`levels`
compares two profiles into one small integer per comparison (0 = a side has no value; higher
= closer), the input of the Fellegi-Sunter model (:mod:`crm_graph.domain.linkage_model`),
which learns how much each level says. Names are compared in whichever order agrees best
(a swapped given name and surname is one person), with typo tolerance (Jaro-Winkler) and
nicknames (Bob for Robert, from the ``nicknames`` dataset); birth dates and addresses field
by field, a day/month swap being a level of its own. The postal code and the city are one
comparison, the place: they say nearly the same thing (a postal code lies in one city), and
counted as two independent pieces of evidence they made a shared place outweigh different
names and birth dates.

:meth:`Profile.blocking_keys` are the blocking keys: only customers sharing a key are
compared. There are several, each on other fields, so that one typo in one field does not
lose a true pair: phonetic codes of the names (in either order), the birth date (day and month
in either order), the postal code and the city each with each name's phonetic code, the
e-mail and the phone. A key is stored as a 63-bit hash: equality is all blocking needs, and no
personal data is kept in the key table.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import jellyfish
from nicknames import NickNamer
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_sort_ratio

# The comparisons, in the order of a comparison vector, and how many levels each has
# (level 0 is "missing" in every one).
GIVEN, SURNAME, EMAIL, PHONE, BIRTH, PLACE, STREET, COMPANY = range(8)
COMPARISONS = (
    "given",
    "surname",
    "email",
    "phone",
    "birth",
    "place",
    "street",
    "company",
)
LEVELS = (5, 5, 3, 4, 5, 5, 4, 4)

HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "herr", "frau", "mme"})
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str | None) -> str:
    """Lower case, accents and punctuation dropped, spaces collapsed."""
    if not text:
        return ""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(_WORD.findall(plain))


def match_email(email: str | None) -> str | None:
    """An address as people reuse it: ``Jo.Doe+news@Gmail.com`` is ``jodoe@gmail.com``."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


@dataclass(frozen=True, slots=True)
class Address:
    postcode: str
    city: str
    street: str


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    given: str
    surname: str
    email: str | None
    phone: str | None
    company: str
    birth: tuple[int, int, int] | None
    addresses: tuple[Address, ...]

    @classmethod
    def of(
        cls,
        pk: int,
        name: str | None,
        email: str | None = None,
        phone: str | None = None,
        company: str | None = None,
        addresses: list[dict[str, Any]] | None = None,
        birth_date: date | str | None = None,
    ) -> Profile:
        words = [w for w in fold(name).split() if w not in HONORIFICS]
        given = words[0] if len(words) > 1 else ""
        surname = words[-1] if words else ""
        if isinstance(birth_date, str):
            birth_date = date.fromisoformat(birth_date)
        return cls(
            pk,
            given,
            surname,
            match_email(email),
            phone or None,
            fold(company),
            (birth_date.year, birth_date.month, birth_date.day) if birth_date else None,
            tuple(
                Address(
                    fold(a.get("postal_code")).replace(" ", ""),
                    fold(a.get("city")),
                    fold(" ".join(a.get("lines") or ())),
                )
                for a in addresses or ()
            ),
        )

    def blocking_keys(self) -> set[int]:
        """The blocking keys (hashed)."""
        found: set[str] = set()
        given, surname = _phonetic(self.given), _phonetic(self.surname)
        if surname:
            found.add("n:" + ":".join(sorted((given, surname))))
        if self.birth:
            year, month, day = self.birth
            found.add(f"b:{year}:{min(month, day)}:{max(month, day)}")
        for address in self.addresses:
            for place, where in (("z", address.postcode), ("c", address.city)):
                if where:
                    found.update(f"{place}:{where}:{code}" for code in (given, surname) if code)
        if self.email:
            found.add(f"e:{self.email}")
        if self.phone:
            found.add(f"p:{self.phone}")
        return {key_hash(key) for key in found}


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


@lru_cache(maxsize=65536)
def _phonetic(word: str) -> str:
    return jellyfish.nysiis(word) if word else ""


_NICKNAMES = NickNamer()


@lru_cache(maxsize=65536)
def _names_of(word: str) -> frozenset[str]:
    """The word, its nicknames and the names it is a nickname of."""
    return frozenset({word, *_NICKNAMES.nicknames_of(word), *_NICKNAMES.canonicals_of(word)})


def _name_level(a: str, b: str, nicknames: bool) -> tuple[int, float]:
    """(level, Jaro-Winkler similarity): 4 same (or a nickname of it), 3 very close, 2 close
    (or an initial of it), 1 not."""
    if not a or not b:
        return 0, 0.0
    if a == b:
        return 4, 1.0
    similarity = JaroWinkler.normalized_similarity(a, b)
    if nicknames and b in _names_of(a):
        return 4, similarity
    if similarity >= 0.92:
        return 3, similarity
    if similarity >= 0.8 or ((len(a) == 1 or len(b) == 1) and a[0] == b[0]):
        return 2, similarity
    return 1, similarity


def names(a: Profile, b: Profile) -> tuple[tuple[int, float], tuple[int, float], bool]:
    """(given, surname) levels and similarities in the order that agrees best, and whether
    that order is swapped."""
    straight = (_name_level(a.given, b.given, True), _name_level(a.surname, b.surname, False))
    if not (a.given and b.given) or straight[0][0] + straight[1][0] == 8:
        return (*straight, False)
    crossed = (_name_level(a.given, b.surname, True), _name_level(a.surname, b.given, False))
    if crossed[0][0] + crossed[1][0] > straight[0][0] + straight[1][0]:
        return (*crossed, True)
    return (*straight, False)


def birth_level(a: tuple[int, int, int] | None, b: tuple[int, int, int] | None) -> int:
    """4 same, 3 day and month swapped, 2 one part differs, 1 different."""
    if a is None or b is None:
        return 0
    if a == b:
        return 4
    if a[0] == b[0] and a[1] == b[2] and a[2] == b[1]:
        return 3
    return 2 if (a[0] == b[0]) + (a[1] == b[1]) + (a[2] == b[2]) == 2 else 1


def _address_levels(
    a: tuple[Address, ...], b: tuple[Address, ...]
) -> tuple[int, int, tuple[str, ...]]:
    """(place, street) levels of the best agreeing pair of addresses, and which parts of its
    place are the same.

    Place: 1 different, 2 near (postal code one edit off, or a city name nearly the same),
    3 same city, 4 same postal code."""
    best: tuple[int, int, tuple[str, ...]] = (0, 0, ())
    for x in a:
        for y in b:
            postcode = _postcode_level(x.postcode, y.postcode)
            city = _text_level(x.city, y.city, 0.88)
            place = _place_level(postcode, city)
            street = _street_level(x.street, y.street)
            if place + street > best[0] + best[1]:
                same = tuple(
                    part
                    for part, level in (("postal code", postcode), ("city", city))
                    if level == 3
                )
                best = (place, street, same)
    return best


def _place_level(postcode: int, city: int) -> int:
    if postcode == 3:
        return 4
    if city == 3:
        return 3
    if postcode == 2 or city == 2:
        return 2
    return 1 if postcode or city else 0


def _postcode_level(a: str, b: str) -> int:
    if not a or not b:
        return 0
    if a == b:
        return 3
    return 2 if Levenshtein.distance(a, b, score_cutoff=1) <= 1 else 1


def _text_level(a: str, b: str, close: float) -> int:
    if not a or not b:
        return 0
    if a == b:
        return 3
    return 2 if JaroWinkler.normalized_similarity(a, b) >= close else 1


def _street_level(a: str, b: str) -> int:
    if not a or not b:
        return 0
    if a == b:
        return 3
    ratio = token_sort_ratio(a, b) / 100
    return 2 if ratio >= 0.75 else 1


def _company_level(a: str, b: str) -> int:
    if not a or not b:
        return 0
    if a == b:
        return 3
    return 2 if token_sort_ratio(a, b) >= 90 else 1


def _email_level(a: str | None, b: str | None) -> int:
    if a is None or b is None:
        return 0
    return 2 if a == b else 1


def _phone_level(a: str | None, b: str | None) -> int:
    if a is None or b is None:
        return 0
    if a == b:
        return 3
    return 2 if a[-7:] == b[-7:] else 1


@dataclass(frozen=True, slots=True)
class Comparison:
    """The levels of one pair, and the name similarities its reasons quote."""

    levels: tuple[int, ...]
    given_similarity: float
    surname_similarity: float
    swapped: bool = False
    same_place: tuple[str, ...] = ()  # "postal code", "city": the parts of the place that agree


def compare(a: Profile, b: Profile) -> Comparison:
    (given, given_similarity), (surname, surname_similarity), swapped = names(a, b)
    place, street, same_place = _address_levels(a.addresses, b.addresses)
    return Comparison(
        (
            given,
            surname,
            _email_level(a.email, b.email),
            _phone_level(a.phone, b.phone),
            birth_level(a.birth, b.birth),
            place,
            street,
            _company_level(a.company, b.company),
        ),
        given_similarity,
        surname_similarity,
        swapped,
        same_place,
    )
