"""What every Kustomer stream shares: host, auth, rate policy, JSON:API flattening, progress."""

import logging
import time
from abc import ABC
from typing import Any, Callable, Iterable, List, Mapping, MutableMapping, Optional

import requests
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from source_kustomer.config import KustomerConfig
from source_kustomer.progress import StreamProgress
from source_kustomer.rate_policy import (
    KustomerAPIBudget,
    KustomerBackoffStrategy,
    KustomerErrorHandler,
    RateStats,
    response_json,
)
from source_kustomer.schemas import stream_schema


def flatten(resource: Mapping[str, Any]) -> MutableMapping[str, Any]:
    """A JSON:API resource as one flat record: id, type, every attribute, relationships, links."""
    record: MutableMapping[str, Any] = dict(resource.get("attributes") or {})
    record["id"] = resource.get("id")
    record["type"] = resource.get("type")
    record["relationships"] = resource.get("relationships") or {}
    record["links"] = resource.get("links") or {}
    return record


def forbidden_detail(response: requests.Response) -> str:
    """The reason Kustomer gave for a 403 (it names the missing role), or a generic one."""
    try:
        errors = response_json(response).get("errors") or []
        first = errors[0] if errors else {}
        return str(first.get("detail") or first.get("message") or first.get("title") or "no detail given")
    except (ValueError, AttributeError, TypeError):
        return "no detail given"


class KustomerStream(HttpStream, ABC):
    """Base of every stream: one Kustomer resource read through the shared budget."""

    primary_key = "id"
    max_page_size = 100
    schema_name = ""  # file under schemas/ (without .json); defaults to the stream name

    def __init__(
        self,
        config: KustomerConfig,
        budget: KustomerAPIBudget,
        custom_fields: Optional[Callable[[], Optional[Mapping[str, Any]]]] = None,
    ):
        self.config = config
        self.rate_stats = RateStats()
        self._custom_fields = custom_fields
        self._schema: Optional[Mapping[str, Any]] = None
        self.progress = StreamProgress(self.name, budget.stats, self.rate_stats)
        super().__init__(authenticator=TokenAuthenticator(token=config.api_token), api_budget=budget)

    @property
    def url_base(self) -> str:
        return f"{self.config.base_url}/v1/"

    @property
    def effective_page_size(self) -> int:
        """The configured page size, never above what this endpoint accepts."""
        return min(self.config.page_size or self.max_page_size, self.max_page_size)

    def get_error_handler(self) -> Optional[ErrorHandler]:
        return KustomerErrorHandler(self.logger, self.config.rate_limit_window_seconds, self.rate_stats)

    def get_backoff_strategy(self) -> Optional[BackoffStrategy]:
        return KustomerBackoffStrategy(self.config.rate_limit_window_seconds, self.rate_stats)

    def request_kwargs(
        self,
        stream_state: Optional[Mapping[str, Any]],
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        return {"timeout": self.config.request_timeout_seconds}

    def request_headers(
        self,
        stream_state: Optional[Mapping[str, Any]],
        stream_slice: Optional[Mapping[str, Any]] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Mapping[str, Any]:
        return {"Accept": "application/json"}

    def page_records(self, response: requests.Response) -> Optional[List[MutableMapping[str, Any]]]:
        """The flattened records of a page, or None when Kustomer refused access (403, logged once)."""
        if response.status_code == 403:
            self.progress.forbidden = forbidden_detail(response)
            self.logger.warning(
                f"Skipping stream '{self.name}': Kustomer refused access (403: {self.progress.forbidden}). "
                "Add the missing read role to the API key to sync it."
            )
            return None
        self.progress.page(time.monotonic())
        return [flatten(resource) for resource in response_json(response).get("data") or []]

    def get_json_schema(self) -> Mapping[str, Any]:
        """The core schema, with ``custom`` typed from Kustomer's definitions (fetched once, lazily)."""
        if self._schema is None:
            custom = self._custom_fields() if self._custom_fields else None
            self._schema = stream_schema(self.schema_name or self.name, custom)
        return self._schema

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        """Records of a page read by the CDK's own pagination (the list streams); counted for progress."""
        records = self.page_records(response) or []
        self.progress.records += len(records)
        return records

    def log_summary(self, logger: Optional[logging.Logger] = None) -> None:
        """One line saying what this stream did."""
        (logger or self.logger).info(self.progress.summary_line())
