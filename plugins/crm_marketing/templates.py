"""Campaign templates: Jinja2 in its sandboxed environment, HTML auto-escaped, personalised
from the customer's fields. A template that does not parse, or fails on a sample customer, is
refused when the campaign is saved, with the line of the problem."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from crm_graph.plugin import Collector, CustomerRow

MAX_TEMPLATE = 200_000
TEMPLATE_NAME = "<template>"  # what Jinja2 names a template made from a string

_HTML = SandboxedEnvironment(autoescape=True)
_TEXT = SandboxedEnvironment(autoescape=False)

SAMPLE = {
    "customer": {
        "name": "Ada Lovelace",
        "first_name": "Ada",
        "email": "ada@example.com",
        "company": "Analytical Engines",
        "lifecycle_stage": "customer",
        "tags": ["vip"],
        "attributes": {},
    },
    "campaign": {"name": "Sample"},
    "unsubscribe_url": "https://example.com/unsubscribe",
}


@dataclass(frozen=True)
class Templates:
    subject: Any
    text: Any
    html: Any | None


def personalisation(customer: CustomerRow, campaign_name: str, unsubscribe_url: str) -> dict:
    """What a template sees: plain values, never the row (the sandbox forbids unsafe
    attributes; plain dicts leave nothing to reach for)."""
    name = customer.name or ""
    return {
        "customer": {
            "name": name,
            "first_name": name.split()[0] if name.split() else "",
            "email": customer.email or "",
            "company": customer.company or "",
            "lifecycle_stage": customer.lifecycle_stage,
            "tags": list(customer.tags or []),
            "attributes": dict(customer.attributes or {}),
        },
        "campaign": {"name": campaign_name},
        "unsubscribe_url": unsubscribe_url,
    }


def _line_of(exc: BaseException) -> int | None:
    """The template line an error at render time was raised at (Jinja2 rewrites the
    traceback so the template's own frames name it)."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    found = [
        f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == TEMPLATE_NAME
    ]
    return found[-1] if found else None


def _compile(
    environment: SandboxedEnvironment, source: str, errors: Collector, *path: str
) -> Any | None:
    if len(source) > MAX_TEMPLATE:
        errors.add("TOO_LONG", f"at most {MAX_TEMPLATE} characters", *path)
        return None
    try:
        template = environment.from_string(source)  # its frames are named TEMPLATE_NAME
        template.render(SAMPLE)
    except TemplateSyntaxError as exc:
        errors.add("INVALID_TEMPLATE", f"line {exc.lineno}: {exc.message}", *path)
        return None
    except Exception as exc:  # a sandbox refusal, a division by zero: whatever rendering raises
        line = _line_of(exc)
        where = f"line {line}: " if line else ""
        errors.add("INVALID_TEMPLATE", f"{where}{type(exc).__name__}: {exc}", *path)
        return None
    return template


def check(
    subject: str, text: str, html: str | None, errors: Collector, prefix: str = ""
) -> Templates:
    """The three templates compiled; every problem goes to ``errors`` with its line, at the
    input's field (``variantSubject`` with ``prefix="variant"``)."""

    def at(name: str) -> str:
        return prefix + name[0].upper() + name[1:] if prefix else name

    return Templates(
        _compile(_TEXT, subject, errors, "input", at("subject")),
        _compile(_TEXT, text, errors, "input", at("textTemplate")),
        _compile(_HTML, html, errors, "input", at("htmlTemplate")) if html is not None else None,
    )


def compiled(subject: str, text: str, html: str | None) -> Templates:
    """Templates saved before (checked then): compiled for sending."""
    errors = Collector()
    found = check(subject, text, html, errors)
    errors.check()
    return found


def render(template: Any, values: dict) -> str:
    return template.render(values)
