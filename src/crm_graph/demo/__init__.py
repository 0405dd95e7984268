"""Deterministic demo data: for trying the API, and with structure the analytics models can find.

Rows are drawn from hidden traits of each customer, the way real purchase data arises:

- every buyer purchases at a personal, gamma-distributed rate and may drop out after each
  purchase with a personal, beta-distributed probability (the BG/NBD story, so RFM and CLV
  models fit); dropped-out customers are the churners, and before leaving they contact support
  far more than others (inbound complaints, refund requests), and their last orders are more
  often cancelled or refunded;
- every customer has one or two favourite categories and buys mostly there; products within a
  category come in kits (grinder, beans, frother) bought together, and staples get re-bought,
  so item-item recommendations beat popularity.

One numpy ``Generator`` and one Faker instance, both seeded with ``seed``, drive everything, and
time counts back from the fixed ``NOW``, never the wall clock: a seed always gives the same rows.
Rows go in with Core bulk inserts in one transaction; then each plugin adds its own demo rows
(the ``crm_demo_data`` hook).
"""

from crm_graph.demo.plugins import plugin_demo_data
from crm_graph.demo.seed import seed_demo
from crm_graph.demo.timeline import NOW

__all__ = ["NOW", "plugin_demo_data", "seed_demo"]
