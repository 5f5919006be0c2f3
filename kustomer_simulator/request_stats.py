"""What the simulator has served: requests by status, route and user agent, searches, records (``/__admin/stats``)."""

import threading
from typing import Any, Dict


class RequestStats:
    """Counts of the requests served since the start or the last ``reset``; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start counting afresh."""
        self.requests = 0
        self.by_status: Dict[int, int] = {}
        self.search_requests = 0
        self.records_served = 0
        self.user_agents: Dict[str, int] = {}
        self.requests_by_route: Dict[str, int] = {}

    def count(self, status: int, is_search: bool, records: int, user_agent: str = "", route: str = "") -> None:
        """Count one request answered with ``status`` and ``records`` records."""
        with self.lock:
            self.requests += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            self.search_requests += int(is_search)
            self.records_served += records
            self.user_agents[user_agent] = self.user_agents.get(user_agent, 0) + 1
            self.requests_by_route[route] = self.requests_by_route.get(route, 0) + 1

    def snapshot(self) -> Dict[str, Any]:
        """The counts as JSON."""
        with self.lock:
            return {
                "requests": self.requests,
                "search_requests": self.search_requests,
                "records_served": self.records_served,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "user_agents": dict(self.user_agents),
                "requests_by_route": dict(self.requests_by_route),
            }
