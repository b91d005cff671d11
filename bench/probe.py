"""Latency probe for bench/run.py.

SIPp reports response times in whole milliseconds, too coarse for a server that answers in tens of
microseconds. The probe sends OPTIONS requests at a low fixed rate alongside the SIPp load and timestamps
each answer with a monotonic clock. In "echo" mode the R-URI names the probe's second socket, so a proxy
forwards the request there, the probe answers 200 from that socket, and the proxy relays the reply back:
the measured time covers a request and a reply through the proxy, like one transaction of a call.
"""

import socket
import threading
import time


def _options(i, local_port, ruri):
    return (
        f"OPTIONS {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bKprobe{i}x;rport\r\n"
        f"From: <sip:probe@127.0.0.1:{local_port}>;tag=p{i}\r\n"
        f"To: <{ruri}>\r\n"
        f"Call-ID: probe-{i}-{local_port}@127.0.0.1\r\n"
        f"CSeq: 1 OPTIONS\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def _answer(request: bytes) -> bytes:
    """A 200 for a request: Via/From/To/Call-ID/CSeq copied, as a UAS would."""
    head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower()
            in (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")]
    return b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"


class Probe:
    def __init__(self, server_port, echo, rate=100.0):
        self.server = ("127.0.0.1", server_port)
        self.echo = echo
        self.period = 1.0 / rate
        self.samples_us = []
        self.lost = 0
        self._stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.uas = None
        if echo:
            self.uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.uas.bind(("127.0.0.1", 0))
            self.uas.settimeout(0.2)

    def _uas_loop(self):
        while not self._stop.is_set():
            try:
                data, addr = self.uas.recvfrom(65535)
            except socket.timeout:
                continue
            if data.startswith(b"OPTIONS "):
                self.uas.sendto(_answer(data), addr)

    def run(self, seconds):
        port = self.sock.getsockname()[1]
        if self.echo:
            ruri = f"sip:echo@127.0.0.1:{self.uas.getsockname()[1]}"
            threading.Thread(target=self._uas_loop, daemon=True).start()
        else:
            ruri = f"sip:probe@{self.server[0]}:{self.server[1]}"
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            i += 1
            t0 = time.monotonic_ns()
            self.sock.sendto(_options(i, port, ruri), self.server)
            want = f"probe-{i}-{port}@".encode()
            while True:
                try:
                    data, _ = self.sock.recvfrom(65535)
                except socket.timeout:
                    self.lost += 1
                    break
                if want in data and data.startswith(b"SIP/2.0 200"):
                    self.samples_us.append((time.monotonic_ns() - t0) / 1000.0)
                    break
            rest = self.period - (time.monotonic_ns() - t0) / 1e9
            if rest > 0:
                time.sleep(rest)
        self._stop.set()


def percentile(samples, p):
    if not samples:
        return float("nan")
    s = sorted(samples)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]
