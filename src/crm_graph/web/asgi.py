"""ASGI entry point for uvicorn (``crm_graph.web.asgi:app``), configured from the environment."""

from crm_graph.web.app import create_app
from crm_graph.web.collector import settle_collector

app = create_app()
settle_collector()  # after startup's objects are built: see the function
