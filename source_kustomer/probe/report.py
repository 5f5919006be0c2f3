"""The probe's findings as the user sees them: a plain-text table, and the ``simulator_args`` that set the local
simulator up like the org probed."""

from typing import Dict, List

from source_kustomer.probe.budget import MAX_REQUESTS, NOT_ASKED, Finding


def simulator_args(findings: List[Finding]) -> List[str]:
    """The findings as arguments of ``python -m kustomer_simulator serve`` (per-object settings joined)."""
    args: Dict[str, List[str]] = {}
    for finding in findings:
        if finding.switch:
            flag, value = finding.switch.split(" ", 1)
            args.setdefault(flag, []).append(value)
    return [part for flag, values in args.items() for part in (flag, ",".join(values))]


def render(findings: List[Finding], requests_sent: int) -> str:
    """The findings as a plain-text table."""
    width = max(len(f.question) for f in findings)
    lines = [f"{'question':<{width}}  answer  (simulator switch)", "-" * (width + 40)]
    for finding in findings:
        switch = f"  ({finding.switch})" if finding.switch else ""
        lines.append(f"{finding.question:<{width}}  {finding.answer}{switch}")
        lines.append(f"{'':<{width}}    {finding.evidence}")
    skipped = sum(finding.answer == NOT_ASKED for finding in findings)
    lines.append(
        f"{requests_sent} read-only requests sent, retries included (at most {MAX_REQUESTS}); "
        f"{skipped} questions not asked for want of budget"
    )
    return "\n".join(lines)
