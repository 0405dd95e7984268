from crm_graph.cli import main

main()
