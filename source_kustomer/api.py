"""Requests made outside the streams: the token check, the org's budget, klasses and custom field definitions."""

import logging
from datetime import timedelta
from typing import Any, Dict, List, Mapping, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.call_rate import APIBudget
from airbyte_cdk.sources.streams.http.error_handlers import ErrorResolution, ResponseAction
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator

from source_kustomer.config import KustomerConfig
from source_kustomer.rate_policy import (
    MAX_RETRIES,
    KustomerAPIBudget,
    KustomerBackoffStrategy,
    KustomerErrorHandler,
    RateStats,
    response_json,
)

ASSUMED_ORG_LIMIT = 300  # the smallest plan's per-minute budget, used when Kustomer does not say
_IGNORE_MISSING = {
    404: ErrorResolution(
        response_action=ResponseAction.IGNORE, failure_type=FailureType.system_error, error_message="not found"
    )
}


class KustomerApi:
    """A small client for one-off requests, sharing the streams' error handling and backoff."""

    def __init__(
        self,
        config: KustomerConfig,
        logger: logging.Logger,
        budget: Optional[APIBudget] = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.config = config
        self.logger = logger
        stats = budget.stats if isinstance(budget, KustomerAPIBudget) else RateStats()
        window = config.rate_limit_window_seconds
        self._client = HttpClient(
            name="kustomer",
            logger=logger,
            error_handler=KustomerErrorHandler(logger, window, stats, max_retries, extra_mapping=_IGNORE_MISSING),
            api_budget=budget or APIBudget(policies=[]),
            authenticator=TokenAuthenticator(token=config.api_token),
            backoff_strategy=KustomerBackoffStrategy(window, stats),
            request_timeout=config.request_timeout_seconds,
        )

    def get(self, path: str, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """GET {base}/v1/{path}; 401 raises a config error, 403/404 come back as responses."""
        _, response = self._client.send_request(
            http_method="GET",
            url=f"{self.config.base_url}/v1/{path.lstrip('/')}",
            request_kwargs={},
            headers={"Accept": "application/json"},
            params=dict(params or {}),
        )
        return response

    def klasses(self) -> List[Mapping[str, Any]]:
        """The org's custom object klasses (empty when the key cannot read them)."""
        found: List[Mapping[str, Any]] = []
        path: Optional[str] = "klasses"
        params: Optional[Dict[str, Any]] = {"page": 1, "pageSize": 100}
        while path:
            response = self.get(path, params)
            if not response.ok:
                self.logger.warning(
                    f"Cannot list custom object klasses (HTTP {response.status_code}); no kobjects_* streams. "
                    "Add the org.admin.klass.read role to the API key to sync custom objects."
                )
                return []
            body = response_json(response)
            found.extend(body.get("data") or [])
            link = (body.get("links") or {}).get("next")
            path, params = (link, None) if link else (None, None)
        return found

    def custom_fields(self, resource: str) -> Optional[Mapping[str, Any]]:
        """Custom attribute definitions of ``resource`` (None when Kustomer will not tell this key)."""
        response = self.get(f"metadata/{resource}")
        if not response.ok:
            self.logger.info(
                f"No custom field definitions for {resource} (HTTP {response.status_code}); "
                "'custom' stays an open object."
            )
            return None
        data = response_json(response).get("data") or {}
        properties = (data.get("attributes") or {}).get("properties")
        return properties if isinstance(properties, Mapping) else None


def org_limit(response: requests.Response, logger: logging.Logger) -> int:
    """The org-wide per-minute budget a response announces (x-ratelimit-limit), or the smallest plan's."""
    try:
        return int(response.headers["x-ratelimit-limit"])
    except (KeyError, ValueError):
        logger.info(f"Kustomer did not state the org's rate limit; assuming {ASSUMED_ORG_LIMIT} requests/minute.")
        return ASSUMED_ORG_LIMIT


def budget_for(config: KustomerConfig, org_limit: int) -> KustomerAPIBudget:
    """The sync's budget: searches under their limit, everything under the configured share of the org's."""
    org_share = max(1, org_limit * config.api_utilization_percent // 100)
    return KustomerAPIBudget(
        search_per_window=min(config.search_requests_per_minute, org_share),
        org_per_window=org_share,
        window=timedelta(seconds=config.rate_limit_window_seconds),
        stats=RateStats(),
    )
