# The connector image: `docker run IMAGE spec|check|discover|read …` speaks the Airbyte protocol.
# Pinned by tag here so a locally built stand-in of the base image can serve; metadata.yaml pins the same image
# and tag by digest, as Airbyte's registry requires (unit_tests/test_packaging.py keeps the two in step).
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2
FROM ${BASE_IMAGE}

WORKDIR /airbyte/integration_code
COPY setup.py pyproject.toml README.md LICENSE main.py ./
COPY libs/kustomer-http/kustomer_http ./libs/kustomer-http/kustomer_http
COPY source_kustomer ./source_kustomer
# One install: the distribution carries kustomer_http itself (see setup.py).
RUN pip install --no-cache-dir --root-user-action=ignore . \
    && (id -u airbyte >/dev/null 2>&1 || useradd --uid 1000 --create-home --shell /usr/sbin/nologin airbyte)

ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
USER airbyte
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]
LABEL io.airbyte.name=airbyte/source-kustomer io.airbyte.version=1.0.0
