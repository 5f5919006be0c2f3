"""Keeping the API key out of every byte the connector writes.

``register`` is called as soon as a config's ``api_token`` is read, before any other field is checked, so a key
pasted into another field is masked in the error about that field too. From then on ``redact`` replaces with
``****`` every form of the key a line could hold:

- as typed, lower- or upper-cased (a host name carrying it is case-folded by URL parsers and IDNA), and with a
  ``+`` read back as a space (a query parser's reading of a key written unescaped in a query);
- percent-encoded as urllib.parse writes it, with any set of its characters escaped (``quote`` with any ``safe``,
  ``quote_plus``, ``urlencode``), escapes in either case, even mixed, one level of double encoding (``%252F``),
  and ``+`` or ``%20`` for a space;
- inside a longer base64 text, at any of its three byte alignments, in the standard and URL-safe alphabets, padded
  or not: the characters that depend on the key alone are masked (those shared with a neighbouring byte hold at most
  4 bits of it), which covers ``Bearer <key>`` and ``user:<key>`` credentials too;
- in hexadecimal, lower or upper case.

Cost on the record path: one substring search per literal form (about a dozen) per batch of lines (``redact_lines``);
only text holding a ``%`` (about one line in 100,000 of a typical read) is searched for the escaped forms with a
regular expression.

A JSON line stays valid and keeps its structure. The config refuses keys that could overlap it (``"`` or ``\\``,
fewer than ``MIN_TOKEN_LENGTH`` characters, nothing but characters JSON holds outside strings), so a form can only
be found inside one string -- where a match beginning inside an escape sequence (``\\n``, ``\\u00e9``) is widened
to the whole sequence -- or, for a form made only of digits (the hex of some keys), as part of a number, which
is replaced by the string ``"****"``. Every form is longer than any key or value the protocol itself writes.

The CDK's own secret filter (its log formatter and traces) learns the literal forms, percent-encoded ones in
urllib's usual writings included; it cannot learn a pattern.
"""

import base64
import bisect
import re
import threading
from dataclasses import dataclass
from typing import Iterable, List, Optional, Pattern, Set, Tuple
from urllib.parse import quote, quote_plus

from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets

MASK = "****"
MIN_TOKEN_LENGTH = 40
# Every character JSON text may hold outside its strings: structure, numbers, true/false/null and white space.
BARE_JSON = frozenset("{}[],: \t\r\n0123456789+-.eEtrufalsn")
_NUMBER = frozenset("0123456789+-.eE")
_PIECE = re.compile(r'[^\s"\\]+')  # a key's pieces: quotes and backslashes would be escaped in a JSON line
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPE = re.compile(r"%[0-9A-F]{2}")
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")  # what urllib.parse never escapes
_OPAQUE_RUN = re.compile(r"[!#-\[\]-~]{%d,}" % MIN_TOKEN_LENGTH)  # a key's characters: ASCII but quotes, \ and space
_ROLE = re.compile(r"org(?:\.[A-Za-z0-9_-]+)+")
_URL_SAFE = str.maketrans("+/", "-_")


@dataclass(frozen=True)
class _Masks:
    """What ``redact`` searches for; replaced whole by ``register`` (a line redacted meanwhile sees the old or the
    new, never a list being sorted)."""

    literals: Tuple[str, ...] = ()  # longest first: what every line is searched for
    anchors: Tuple[str, ...] = ()  # in a line holding a "%": what an escaped form cannot be without
    patterns: Tuple[str, ...] = ()  # the escaped forms, searched for in a line holding an anchor
    escaped: Optional[Pattern[str]] = None  # the patterns, compiled


_masks = _Masks()
_registering = threading.Lock()


def maskable(piece: str) -> bool:
    """Whether ``piece`` can be masked without ever touching a line's JSON structure or protocol words."""
    return (
        len(piece) >= MIN_TOKEN_LENGTH
        and not set(piece.lower()) <= BARE_JSON
        and not any(ch in piece for ch in '"\\')
        and not any(ch.isspace() for ch in piece)
    )


def base64_cores(data: bytes) -> Set[str]:
    """The part of any base64 text holding ``data`` that depends on ``data`` alone, at each of the three byte
    alignments, in both alphabets."""
    cores = set()
    for offset in range(3):
        text = base64.b64encode(bytes(offset) + data).decode()
        core = text[(offset * 8 + 5) // 6 : (offset + len(data)) * 8 // 6]
        cores.update((core, core.translate(_URL_SAFE)))
    return cores


def _bases(token: str) -> Set[str]:
    """The forms of ``token`` before any percent-encoding: as typed, with a ``+`` read as a space, base64, hex."""
    data = token.encode("utf-8", "surrogatepass")
    return {token, token.replace("+", " "), data.hex(), *base64_cores(data)}


def token_forms(token: str) -> List[str]:
    """Every literal form in which ``token`` could appear in text, longest first; those written percent-encoded
    are in ``percent_forms``."""
    data = token.encode("utf-8", "surrogatepass")
    forms = {token, token.lower(), token.upper(), token.replace("+", " "), data.hex(), data.hex().upper()}
    return sorted(forms | base64_cores(data), key=len, reverse=True)


def _escapable(base: str) -> bool:
    return _UNRESERVED.fullmatch(base) is None


def percent_forms(token: str) -> Set[str]:
    """The forms of ``token`` holding a character urllib.parse escapes, as its quoting functions write them,
    escapes upper- and lower-cased (the CDK's filter learns these; ``redact`` finds every other writing too)."""
    forms = set()
    for base in filter(_escapable, _bases(token)):
        for written in (quote(base, safe=""), quote(base), quote_plus(base, safe=""), quote_plus(base)):
            lowered = _ESCAPE.sub(lambda escape: escape.group(0).lower(), written)
            forms.update((written, lowered, written.lower(), written.upper()))
    return forms


def _anchor(base: str) -> str:
    """The longest run of ``base`` that urllib.parse never escapes: every escaped form of ``base`` holds it."""
    return max(_UNRESERVED.findall(base), key=len, default="")


def _escaped_pattern(base: str) -> str:
    """A pattern matching ``base`` with any of its characters percent-encoded (once or twice, in either case)."""
    units = []
    for ch in base:
        escapes = "".join(f"%(?:25)?{byte:02x}" for byte in ch.encode("utf-8", "surrogatepass"))
        plain = r"\+| " if ch == " " else re.escape(ch)
        units.append(f"(?:{plain}|{escapes})")
    return "".join(units)


def register(value: str) -> None:
    """Mask every form of ``value`` from now on, here and in the CDK's filter.

    ``value`` is the raw ``api_token`` as pasted, before it is checked: each of its pieces (split at white space,
    quotes and backslashes) that is long enough to be a key is registered, so a key pasted with a stray line break
    is masked as well. A piece ``maskable`` refuses is not (the config refuses it as a key anyway).
    The CDK's entrypoint replaces its list with the raw token alone when a command starts, so the config is read,
    and this called, again at the start of every command; a form listed twice costs nothing more.
    """
    global _masks
    pieces = [piece for piece in sorted({value.strip(), *_PIECE.findall(value)}) if maskable(piece)]
    for piece in pieces:
        for form in token_forms(piece) + sorted(percent_forms(piece)):
            add_to_secrets(form)
    with _registering:
        literals, anchors, patterns = dict.fromkeys(_masks.literals), dict.fromkeys(_masks.anchors), _masks.patterns
        for piece in pieces:
            literals.update(dict.fromkeys(token_forms(piece)))
            escapable = sorted(filter(_escapable, _bases(piece)))
            anchors.update(
                dict.fromkeys(case(_anchor(base)) for base in escapable for case in (str, str.lower, str.upper))
            )
            patterns += tuple(p for p in map(_escaped_pattern, escapable) if p not in patterns)
        escaped = re.compile("|".join(patterns), re.IGNORECASE) if patterns else None
        _masks = _Masks(tuple(sorted(literals, key=len, reverse=True)), tuple(anchors), patterns, escaped)


def _found(text: str, masks: _Masks) -> List[Tuple[int, int]]:
    """The spans of ``text`` holding a form of a registered key, overlapping ones merged."""
    spans = []
    for form in masks.literals:
        start = text.find(form)
        while start >= 0:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    if _holds_escaped(text, masks):
        spans.extend(match.span() for match in masks.escaped.finditer(text))  # type: ignore[union-attr]
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def holds_key(text: str, masks: Optional[_Masks] = None) -> bool:
    """Whether ``text`` holds a form of a registered key."""
    masks = masks or _masks
    return any(map(text.__contains__, masks.literals)) or _holds_escaped(text, masks)


def _holds_escaped(text: str, masks: _Masks) -> bool:
    return (
        masks.escaped is not None
        and "%" in text
        and any(map(text.__contains__, masks.anchors))
        and masks.escaped.search(text) is not None
    )


def quotable(text: str) -> bool:
    """Whether text a server sent (an error's detail, a link) may be quoted in a message: it holds no form of a
    registered key, and no run of a key's characters at least as long as the shortest key (``MIN_TOKEN_LENGTH``),
    which could be the key in a form not masked (a role name such as org.permission.customer.read excepted)."""
    if holds_key(text):
        return False
    return all(_ROLE.fullmatch(run.strip(".,;:()[]{}'")) for run in _OPAQUE_RUN.findall(text))


def redact(text: str) -> str:
    """``text`` with every form of a registered key replaced by ``****``; a JSON line stays valid JSON with the
    same structure."""
    masks = _masks
    if not holds_key(text, masks):
        return text
    spans = _found(text, masks)
    if text.startswith("{"):
        return _masked_json(text, spans)
    return _masked(text, ((start, end, MASK) for start, end in spans))


def redact_lines(text: str) -> str:
    """``redact`` for text of whole lines, searched for the key's forms once for all of them; a line holding one
    is redacted alone (a JSON line stays valid JSON with the same structure)."""
    if not holds_key(text):
        return text
    return "".join(map(redact, text.splitlines(keepends=True)))


def _masked(text: str, replacements: Iterable[Tuple[int, int, str]]) -> str:
    parts, done = [], 0
    for start, end, mask in replacements:
        parts.append(text[done:start])
        parts.append(mask)
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _masked_json(line: str, spans: List[Tuple[int, int]]) -> str:
    """``spans`` of a JSON line masked: inside a string from the start of any escape sequence they begin in; in a
    number (a form made of digits), the whole number becomes the string ``"****"``."""
    strings = [match.span() for match in _JSON_STRING.finditer(line)]
    starts = [start for start, _ in strings]
    replacements: List[Tuple[int, int, str]] = []
    for start, end in spans:
        at = bisect.bisect_right(starts, start) - 1
        if at >= 0 and strings[at][0] < start and end < strings[at][1]:
            start, mask = _escape_start(line, start), MASK
        else:
            while start > 0 and line[start - 1] in _NUMBER:
                start -= 1
            while end < len(line) and line[end] in _NUMBER:
                end += 1
            mask = f'"{MASK}"'
        if replacements and start <= replacements[-1][1]:
            start = replacements.pop()[0]
        replacements.append((start, end, mask))
    return _masked(line, replacements)


def _escape_start(line: str, start: int) -> int:
    """Where the escape sequence ``start`` falls in begins (``start`` itself when it falls in none): the character
    after a backslash that begins an escape, or one of the four hex digits of a ``\\u`` escape."""
    for back in range(1, 6):
        slash = start - back
        if slash < 0:
            break
        if line[slash] == "\\" and (back == 1 or line[slash + 1] == "u") and _backslashes_to(line, slash) % 2:
            return slash
    return start


def _backslashes_to(line: str, end: int) -> int:
    """How many backslashes run without a break up to ``end`` (inclusive)."""
    count = 0
    while end - count >= 0 and line[end - count] == "\\":
        count += 1
    return count
