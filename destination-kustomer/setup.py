"""Kept for Airbyte's Python connector layout and older tooling: the package is described in pyproject.toml."""

from setuptools import setup

setup()
