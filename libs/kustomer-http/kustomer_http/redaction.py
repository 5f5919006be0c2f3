"""Keeping the API key out of every byte the connector writes.

The token is registered once, as soon as a config is read, in every form it could take on the wire or in a
log: raw, URL-encoded, base64 (alone, as HTTP basic credentials and of the whole ``Bearer <token>`` header
value) and after ``Bearer``; the raw and URL-encoded forms also lower- and upper-cased, as a host name carrying
them is case-folded by URL parsers and IDNA. The CDK's own secret
filter (used by its log formatter and traces) learns the same forms, and ``redact`` is applied to every
protocol message this connector prints, including the ones it writes before the CDK's entrypoint runs.
"""

import base64
from typing import List
from urllib.parse import quote

from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets

MASK = "****"
_forms: List[str] = []


def token_forms(token: str) -> List[str]:
    """Every form in which ``token`` could appear in text, longest first."""
    encoded = token.encode("utf-8", "surrogatepass")
    header = f"Bearer {token}".encode("utf-8", "surrogatepass")
    quoted = quote(token, safe="")
    forms = {
        f"Bearer {token}",
        token,
        quoted,
        *(variant for text in (token, quoted) for variant in (text.lower(), text.upper())),
        base64.b64encode(encoded).decode(),
        base64.b64encode(b":" + encoded).decode(),
        base64.b64encode(encoded + b":").decode(),
        base64.urlsafe_b64encode(encoded).decode().rstrip("="),
        base64.b64encode(header).decode(),
        base64.urlsafe_b64encode(header).decode().rstrip("="),
    }
    return sorted((form for form in forms if form), key=len, reverse=True)


def register(token: str) -> None:
    """Mask every form of ``token`` from now on, here and in the CDK's filter.

    The CDK's entrypoint replaces its list with the raw token alone when a command starts, so the source
    registers again at the start of every command; a form listed twice costs one more string search.
    """
    for form in token_forms(token):
        if form not in _forms:
            _forms.append(form)
        add_to_secrets(form)
    _forms.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every registered form of the token replaced by ``****``."""
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text
