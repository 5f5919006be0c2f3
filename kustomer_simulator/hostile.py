"""Responses a broken or hostile server sends, for the faults that test how a client survives them.

They are not Kustomer behaviour; they are what any server on the path could do: trickle bytes forever, send a
body that never ends, a small gzip body that inflates to gigabytes, a page far bigger than anyone asked for, or
hand the API key back in every form a connector could print it in.
"""

import base64
import re
import socket
import time
import zlib
from functools import lru_cache
from typing import Any, Iterator, List
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

BOMB_CHUNK = 1 << 20


@lru_cache(maxsize=4)
def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip body that inflates to ``inflated_mib`` MiB of JSON whitespace (about 1 KiB per MiB on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"data": [')]
    blank = b" " * BOMB_CHUNK
    for _ in range(inflated_mib):
        parts.append(packer.compress(blank))
    parts.append(packer.compress(b"]}"))
    parts.append(packer.flush())
    return b"".join(parts)


def trickle(connection: socket.socket, payload: bytes, interval: float, give_up_after: float = 120.0) -> None:
    """Send ``payload`` one byte every ``interval`` seconds until done, the client leaves, or ``give_up_after``."""
    started = time.monotonic()
    for position in range(len(payload)):
        if time.monotonic() - started > give_up_after:
            return
        try:
            connection.sendall(payload[position : position + 1])
        except OSError:
            return
        time.sleep(interval)


def endless_records(record: bytes) -> Iterator[bytes]:
    """The start of a page, then the same record forever."""
    yield b'{"data": ['
    while True:
        yield record + b","


def oversized_page(minimal: bool, size_mib: int, updated_at: str) -> Iterator[bytes]:
    """A page of about ``size_mib`` MiB, made chunk by chunk (never whole in memory): ``{"data":[{},{},...]}``, or
    (``minimal``) records holding only a distinct id and ``updatedAt``."""
    yield b'{"data":['
    target, written, n = size_mib << 20, 0, 0
    while written < target:
        if minimal:
            stamp = updated_at.encode()
            items = [b'{"id":"%024x","attributes":{"updatedAt":"%s"}}' % (k, stamp) for k in range(n, n + 1024)]
        else:
            items = [b"{}"] * 16384
        n += len(items)
        chunk = (b"," if written else b"") + b",".join(items)
        written += len(chunk)
        yield chunk
    yield b"]}"


def stream_chunked(write: Any, chunks: Iterator[bytes], max_bytes: int = 8 << 30) -> None:
    """Write HTTP/1.1 chunks until the client leaves (or ``max_bytes``, so a stuck client cannot pin the server)."""
    sent = 0
    try:
        for chunk in chunks:
            write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
            if sent > max_bytes:
                break
        write(b"0\r\n\r\n")
    except OSError:
        return


def key_echoes(key: str) -> List[str]:
    """The API key the request carried, in every form a server could hand it back in: as sent and case-folded, with
    a '+' as a space, percent-encoded (urllib's writings, lower-case and mixed-case escapes, twice over), base64 of
    the key inside longer text at each byte alignment (standard and URL-safe, padded and not; the Authorization
    header and basic credentials among them), hex in both cases, and after a JSON escape sequence."""
    raw = key.encode()
    quoted = quote(key, safe="")
    pieces = re.split("(%[0-9A-F]{2})", quoted)  # text, escape, text, escape...: every other escape lower-cased
    mixed = "".join(piece.lower() if n % 4 == 3 else piece for n, piece in enumerate(pieces))
    blobs = [b"Bearer " + raw, b"user:" + raw, raw + b":", b"<" + raw + b">", b"<<" + raw + b"-tail"]
    encoded = [base64.b64encode(blob).decode() for blob in blobs]
    encoded += [base64.urlsafe_b64encode(blob).decode().rstrip("=") for blob in blobs]
    forms = [key, f"Bearer {key}", key.lower(), key.upper(), key.replace("+", " "), "\n" + key]
    forms += [quoted, quote(key), quote_plus(key), quoted.lower(), mixed, quote(quoted, safe="")]
    forms += [raw.hex(), raw.hex().upper(), f"0x{raw.hex()}00"]
    return forms + encoded


def key_query(path: str, key: str) -> str:
    """``path`` with the key added to its query in several forms (replacing any added before): percent-encoded with
    mixed-case escapes, unescaped (a '+' in it then reads as a space), base64 of the Authorization header, hex."""
    parts = urlsplit(path)
    kept = [(name, value) for name, value in parse_qsl(parts.query) if not name.startswith("echo")]
    header = base64.b64encode(f"Bearer {key}".encode()).decode()
    added = [("echo_quoted", key), ("echo_header", header), ("echo_hex", key.encode().hex())]
    query = urlencode(kept + added).replace("%2B", "%2b") + f"&echo_plain={key}"
    return f"{parts.path}?{query}"
