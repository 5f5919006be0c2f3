"""Packaging for source-kustomer."""

from setuptools import find_packages, setup

MAIN_REQUIREMENTS = [
    "airbyte-cdk==7.39.1",
    "urllib3>=2.6",  # streaming decompression bounded per read: a gzip bomb cannot inflate inside one chunk
]
TEST_REQUIREMENTS = [
    "pytest>=8,<9",
    "requests-mock>=1.12",
    "docker>=7.1",
    "jsonschema>=4.20",
    "ruff>=0.6",
    "duckdb==1.4.3",  # the version PyAirbyte 0.71.3 writes the demo's file with
]

setup(
    name="source-kustomer",
    version="0.1.0",
    description="Airbyte source connector for Kustomer",
    author="source-kustomer developers",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["source_kustomer", "source_kustomer.*"]),
    install_requires=MAIN_REQUIREMENTS,
    package_data={"source_kustomer": ["spec.yaml", "schemas/*.json"]},
    extras_require={"tests": TEST_REQUIREMENTS, "bench": ["matplotlib>=3.8", "pyinstrument>=5"]},
    entry_points={"console_scripts": ["source-kustomer=source_kustomer.run:run"]},
)
