"""The connector's version: the one place it is written (setup.py, metadata.yaml and the Dockerfile must agree)."""

VERSION = "0.2.0"
USER_AGENT = f"airbyte-source-kustomer/{VERSION}"
