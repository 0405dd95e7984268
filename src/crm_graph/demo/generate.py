"""Drawing the whole demo data set from one seed: the same arguments always give the same rows."""

from __future__ import annotations

import numpy as np
from faker import Faker

from crm_graph.demo.catalogue import Catalogue
from crm_graph.demo.customers import customer_rows
from crm_graph.demo.identities import LOCALES, draw_people
from crm_graph.demo.interactions import draw_interactions
from crm_graph.demo.purchases import draw_orders, draw_purchase_days
from crm_graph.demo.rows import DemoData, Volumes


def generate(volumes: Volumes, seed: int) -> DemoData:
    """The demo rows for ``volumes``; the same arguments always give the same rows."""
    if volumes.customers < 1 or volumes.orders < 0 or volumes.interactions < 0:
        raise ValueError("demo volumes: at least one customer, no negative counts")
    rng = np.random.default_rng(seed)
    fake = Faker([name for name, *_ in LOCALES])
    fake.seed_instance(seed)
    catalogue = Catalogue(rng)
    people = draw_people(rng, fake, volumes.customers)
    draw_purchase_days(rng, people, volumes.orders)
    data = DemoData(customers=[], products=catalogue.rows, orders=[], interactions=[])
    data.orders = draw_orders(rng, people, catalogue)
    data.interactions = draw_interactions(rng, people, data, catalogue, volumes.interactions)
    data.customers = customer_rows(rng, people, data)
    return data
