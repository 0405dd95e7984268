"""Tokens: signed, expiring, optionally single-use tokens for links (``app.tokens``)."""

from __future__ import annotations

from crm_graph.auth.link_tokens import LinkToken, LinkTokens, TokenRefused

__all__ = ["LinkToken", "LinkTokens", "TokenRefused"]
