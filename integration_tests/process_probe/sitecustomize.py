"""Loaded at start-up by a connector process the tests observe (this folder goes first on PYTHONPATH).

It records every host name the process looks up and every address it connects to (KUSTOMER_NET_LOG), and the
process's peak memory when it exits (KUSTOMER_RSS_LOG) -- the tests' witness of where requests could have gone.
"""

import atexit
import json
import os
import socket

_NET_LOG = os.environ.get("KUSTOMER_NET_LOG")
_RSS_LOG = os.environ.get("KUSTOMER_RSS_LOG")

if _NET_LOG:
    _getaddrinfo = socket.getaddrinfo
    _connect = socket.socket.connect

    def _record(kind, host, port):
        with open(_NET_LOG, "a", encoding="utf-8") as handle:
            handle.write(json.dumps([kind, str(host), port]) + "\n")

    def _logged_getaddrinfo(host, port, *args, **kwargs):
        _record("lookup", host, port)
        return _getaddrinfo(host, port, *args, **kwargs)

    def _logged_connect(self, address):
        if isinstance(address, tuple):
            _record("connect", address[0], address[1])
        return _connect(self, address)

    socket.getaddrinfo = _logged_getaddrinfo
    socket.socket.connect = _logged_connect

if _RSS_LOG:

    def _write_peak_memory():
        # VmHWM is this process image's own peak (getrusage's maxrss also counts the parent's RSS before exec).
        with open("/proc/self/status", encoding="utf-8") as status:
            peak_kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        with open(_RSS_LOG, "w", encoding="utf-8") as handle:
            handle.write(peak_kib)

    atexit.register(_write_peak_memory)
