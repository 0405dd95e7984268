"""The sales plugin's name, permissions and settings (``CRM_PLUGIN_SALES_*``)."""

from __future__ import annotations

from pydantic import BaseModel

NAME = "sales"

DEALS_READ = "deals:read"
DEALS_WRITE = "deals:write"
DEALS_MANAGE = "deals:manage"


class SalesSettings(BaseModel):
    """The sales plugin's settings; none is needed to start."""
