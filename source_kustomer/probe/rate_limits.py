"""The probe's question about the rate-limit headers: what ``x-ratelimit-reset`` holds (epoch seconds, seconds to
wait, or nothing), read from the first responses the other questions received; it sends nothing."""

from typing import List, Optional

from kustomer_http.rate_policy import EPOCH_THRESHOLD

from source_kustomer.probe.budget import Finding, ProbeClient


class RateLimitQuestions:
    """Questions answered from the headers ``client`` kept."""

    def __init__(self, client: ProbeClient) -> None:
        self.client = client

    def reset_header(self, question: str) -> List[Finding]:
        """What ``x-ratelimit-reset`` holds, from the first responses."""
        parts, switch = [], None
        for kind in ("other", "search"):
            headers = self.client.headers.get(kind)
            if headers is None:
                continue
            reset = headers.get("x-ratelimit-reset")
            parts.append(f"{kind}: limit {headers.get('x-ratelimit-limit')}, reset {reset}")
            if switch is None:
                switch = f"--reset-mode {reset_mode(reset)}"
        answer = switch.split()[-1] if switch else "unknown"
        return [Finding(question, answer, "; ".join(parts) or "no responses", switch)]


def reset_mode(value: Optional[str]) -> str:
    """The ``--reset-mode`` an ``x-ratelimit-reset`` value shows: epoch, seconds or absent."""
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return "absent"
    if number is None:
        return "absent"
    return "epoch" if number >= EPOCH_THRESHOLD else "seconds"
