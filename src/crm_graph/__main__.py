from crm_graph.cli import app

app()
