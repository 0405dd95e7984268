"""The plugin's tables as relations (the field contract's data, see ``docs/plugins.md``).

Fields and batch functions read them through the request's loaders: N customers cost one
statement per relation, whatever N is, and every field reading a relation shares it.
"""

from __future__ import annotations

from crm_analytics.tables import (
    AnalyticsCustomerScore,
    AnalyticsModel,
    AnalyticsSegment,
    AnalyticsSimilarProduct,
)
from crm_graph.plugin import ProductRow, Related, RelatedRows

MODEL = Related(AnalyticsModel, key="kind")  # looked up by kind, not by a parent
SCORE = Related(AnalyticsCustomerScore, key="customer_id")
SEGMENT = Related(AnalyticsSegment, key="number")
SIMILAR = RelatedRows(AnalyticsSimilarProduct, key="product_id", order_by=("rank",))
PRODUCT = Related(ProductRow, key="id", parent_key="product_id")  # a recommendation's product
