"""Global IDs of the plugin's own types, as its GraphQL and its event payloads show them."""

from __future__ import annotations

from crm_graph.plugin import to_global_id


def segment_id(pk: int | None) -> str:
    return to_global_id("AudienceSegment", pk)  # type: ignore[arg-type]


def campaign_id(pk: int | None) -> str:
    return to_global_id("EmailCampaign", pk)  # type: ignore[arg-type]


def automation_id(pk: int | None) -> str:
    return to_global_id("MarketingAutomation", pk)  # type: ignore[arg-type]
