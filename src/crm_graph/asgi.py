"""ASGI entry point for uvicorn (``crm_graph.asgi:app``), configured from the environment."""

from crm_graph.app import create_app

app = create_app()
