"""Responses a broken or hostile server sends, for the faults that test how a client survives them.

They are not Kustomer behaviour; they are what any server on the path could do: trickle bytes forever, send a
body that never ends, a small gzip body that inflates to gigabytes, or a page far bigger than anyone asked for.
"""

import socket
import time
import zlib
from functools import lru_cache
from typing import Any, Iterator

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
