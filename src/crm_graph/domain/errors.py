"""User errors: what a client did wrong, with a stable code and the path of the bad field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    code: str
    message: str
    field: list[str] = field(default_factory=list)


class ValidationFailed(Exception):
    """Raised by domain functions; the unit of work rolls back, so nothing is written."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(e.field)}: {e.message}" for e in errors))
        self.errors = errors


class Collector:
    """Gathers every problem in an input, so a client sees them all at once."""

    def __init__(self, errors: list[FieldError] | None = None) -> None:
        self.errors: list[FieldError] = [] if errors is None else errors

    def add(self, code: str, message: str, *path: str | int) -> None:
        self.errors.append(FieldError(code, message, [str(p) for p in path]))

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def not_one_of(name: str, allowed: Iterable[str]) -> str:
    """The message for a value outside a fixed set: ``status must be one of a, b, c``."""
    return f"{name} must be one of {', '.join(allowed)}"


def fail(code: str, message: str, *path: str | int) -> ValidationFailed:
    return ValidationFailed([FieldError(code, message, [str(p) for p in path])])
