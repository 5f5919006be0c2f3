"""The main job in one command: a full (then incremental) sync of a Kustomer org into DuckDB via PyAirbyte."""
