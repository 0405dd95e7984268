"""A/B tests of a campaign: variant B (another subject or content) goes to a share of the
recipients, chosen by a stable hash of campaign and customer (so a resumed send picks the same
variant); the winner is decided by conversion (recipients with an attributed order), with a
two-proportion z-test, not by the higher number alone.

The test statistic is z = (p_B - p_A) / sqrt(p (1 - p) (1/n_A + 1/n_B)), p the pooled rate,
and its two-sided p-value erfc(|z| / sqrt(2)). A winner is named only when the p-value is
below 0.05 (Mailchimp and Klaviyo call a test at the 95% level); otherwise there is none yet.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

A, B = "A", "B"
SIGNIFICANCE = 0.05


def variant_of(campaign_id: int, customer_id: int, split: float) -> str | None:
    """The variant a recipient gets (None when the campaign tests nothing)."""
    if split <= 0:
        return None
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return B if share < split else A


@dataclass(frozen=True)
class Arm:
    name: str
    recipients: int
    conversions: int

    @property
    def rate(self) -> float:
        return self.conversions / self.recipients if self.recipients else 0.0


@dataclass(frozen=True)
class Verdict:
    arms: tuple[Arm, Arm]
    z: float | None
    p_value: float | None
    winner: str | None


def compare(a: Arm, b: Arm) -> Verdict:
    """The z-test of B's conversion rate against A's; no statistic without recipients in
    both arms or without any variance (no conversion at all, or nothing but)."""
    if not a.recipients or not b.recipients:
        return Verdict((a, b), None, None, None)
    pooled = (a.conversions + b.conversions) / (a.recipients + b.recipients)
    variance = pooled * (1 - pooled) * (1 / a.recipients + 1 / b.recipients)
    if variance == 0:
        return Verdict((a, b), None, None, None)
    z = (b.rate - a.rate) / math.sqrt(variance)
    p_value = math.erfc(abs(z) / math.sqrt(2))
    winner = (B if z > 0 else A) if p_value < SIGNIFICANCE else None
    return Verdict((a, b), z, p_value, winner)
