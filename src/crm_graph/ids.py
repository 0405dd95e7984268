"""Opaque Relay global IDs: ``base64url("Customer:42")``."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # not at run time: the process reading an import file needs IDs, not GraphQL
    import strawberry

# Primary keys are 32-bit integers on PostgreSQL; anything larger cannot be one of ours.
MAX_PK = 2**31 - 1


class GlobalIdError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    # binascii directly: a third faster than base64.urlsafe_b64encode (a response or an import
    # makes thousands).
    encoded = binascii.b2a_base64(f"{type_name}:{pk}".encode(), newline=False)
    return cast("strawberry.ID", encoded.translate(_URL_SAFE).rstrip(b"=").decode())


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def from_global_id(value: str) -> tuple[str, int]:
    """Split an ID into (type name, primary key); ``GlobalIdError`` when it is not one of ours.

    Only the canonical form is one of ours, the one :func:`to_global_id` writes: decoders and
    ``int`` also take padding, stray characters, leading zeros and non-ASCII digits
    (``Customer:٢٠٤``), so one row would answer to many IDs.
    """
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        type_name, pk = raw.split(":", 1)
        number = int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise GlobalIdError("INVALID_ID", f"{value[:80]!r} is not a valid ID") from exc
    if (
        not type_name.isidentifier()
        or not 0 < number <= MAX_PK
        or to_global_id(type_name, number) != value
    ):
        raise GlobalIdError("INVALID_ID", f"{value[:80]!r} is not a valid ID")
    return type_name, number


def pk_of(value: str, expected: str) -> int:
    type_name, pk = from_global_id(value)
    if type_name != expected:
        raise GlobalIdError("WRONG_ID_TYPE", f"expected a {expected} ID, got a {type_name} ID")
    return pk
