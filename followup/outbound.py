"""Every outbound HTTP request of the service goes through here (alert webhooks, FHIR
subscriptions, the JWK Sets that SMART clients and CDS Hooks EHRs publish), and the one
signature of the bodies it posts (`sign`).

A URL comes from an integration or a clinician, so it may point inside the hospital or
at the cloud's metadata service. What this module guarantees, for each request:

- **The address connected to is the address checked.** The host is resolved once
  (`resolve`), every address is checked, and the socket connects to one of those
  addresses: no second lookup that a DNS rebinding could answer differently. TLS still
  verifies the certificate against the URL's host name (SNI and hostname check).
- **No loopback, private, link-local, multicast, reserved or unspecified address**, IPv4
  or IPv6, including IPv4 inside IPv6 (mapped, 6to4; NAT64's prefix is reserved). Decimal,
  octal and hex spellings of IPv4 (`2130706433`, `0177.0.0.1`, `0x7f.1`) are what the
  resolver makes of them, so they are checked as the address they become. Loopback and private
  networks are allowed only with `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true` (local runs, the
  tests' own receivers); link-local (169.254.169.254, fe80::/10), multicast, reserved and
  unspecified never.
- **https only**, unless `WEBHOOK_ALLOW_HTTP=true`. No user:password in the URL.
- **Redirects are never followed**: a 3xx is a failure like a 5xx.
- **One total deadline per request** (connect, TLS, sending, the answer's status line and
  headers): a watchdog shuts the socket down when it passes, so a receiver that trickles
  one byte at a time is cut at the deadline, not after one timeout per byte. The body of
  a POST's answer is never read; a GET's (`get_json`) is read within the same deadline,
  up to a size limit.
- **Generic reasons only** (`Answer.reason`, `Refused`): "timeout", "connection
  refused", "HTTP 503"... never the socket's error text, so that the delivery log does
  not describe the network to whoever registered the URL.
- No proxy from the environment (`HTTPS_PROXY` and friends are ignored): a proxy would
  connect to an address this module never saw.

Why not a library: `advocate` pins urllib3 < 2 and is unmaintained since 2020;
`safehttpx` offers an asynchronous GET only and checks names against a public resolver
(a second lookup); the other "SSRF-safe" clients on PyPI are new one-author packages.
What is needed is small: resolve and check (`ipaddress`), connect to the checked address
(`http.client.HTTPConnection.connect`, its documented extension point), and a watchdog.
"""

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError


class Refused(Exception):
    """A URL or an address this service does not call; `str()` is a generic reason."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


@dataclass(frozen=True)
class Answer:
    """What came back: the status (None without an answer), a generic reason when it is
    not a success ("" for a 2xx), and how long it took."""

    status: int | None
    reason: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def sign(secret: str, body: bytes, at: int) -> str:
    """`X-Followup-Signature`: `t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.body")>`; the
    receiver checks it with its copy of the secret and refuses an old `t` (replay)."""
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, looked up once per request (tests patch this function,
    never the network). An IP literal in any spelling comes back as its address."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _special(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Never a receiver, whatever the settings: the metadata service lives here. (Python
    counts ::1 among the reserved ::/8; loopback is only private.)"""
    reserved = ip.is_reserved and not ip.is_loopback
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified or reserved


def check_address(address: str, allow_private: bool | None = None) -> None:
    """Raise `Refused` unless `address` (as connected to) may be called."""
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is not the address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
    candidates = [ip]
    if ip.version == 6 and ip.sixtofour is not None:
        candidates.append(ip.sixtofour)  # 2002:7f00:1:: is relayed to 127.0.0.1
    for candidate in candidates:
        if _special(candidate):
            raise Refused("refused: special-purpose address")
        if not candidate.is_global and not allow_private:
            raise Refused("refused: private address")


def target(url: str, allow_http: bool | None = None) -> Target:
    """The URL's parts, or `Refused` for a scheme, host or port this service does not use."""
    if allow_http is None:
        allow_http = settings.WEBHOOK_ALLOW_HTTP
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise Refused("refused: use an https URL" if parts.scheme == "http" else
                      "refused: not an http(s) URL")  # fmt: skip
    if parts.username is not None or parts.password is not None:
        raise Refused("refused: credentials in the URL")
    if not parts.hostname:
        raise Refused("refused: no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("refused: bad port") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path)


def check_url(url: str) -> None:
    """At registration: `Refused` for a URL that could never be called.

    A name that resolves now is checked on every address it has now; a name that does not
    resolve yet is accepted (each request resolves and checks again, so nothing is lost).
    """
    where = target(url)
    try:
        addresses = resolve(where.host, where.port)
    except (OSError, UnicodeError):
        return
    for address in addresses:
        check_address(address)


def validate_url(url: str) -> None:
    """`check_url` as a Django validator: the model field's, so that the API's serializer
    and the admin's form refuse the URL under its own name (`url`)."""
    try:
        check_url(url)
    except Refused as refused:
        raise ValidationError(str(refused), code="refused") from None


class _Watchdog:
    """Shuts the connection's socket down when the deadline passes, from another thread:
    a blocked read returns at once, however the receiver trickles its bytes."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._guard: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0), self._fire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        # A duplicate of the descriptor: shutting it down cuts the connection whatever
        # becomes of the original (wrapped in TLS, closed).
        with self._lock:
            self._guard = sock.dup()
            if self.fired:
                self._guard.shutdown(socket.SHUT_RDWR)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._guard is not None:
                with contextlib.suppress(OSError):  # closed already: nothing to cut
                    self._guard.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            if self._guard is not None:
                self._guard.close()


class _PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to the URL's host name (Host header, SNI, certificate check) over a socket
    connected to the addresses already checked, never to a fresh lookup."""

    def __init__(self, where: Target, addresses: list[str], deadline: float, dog: _Watchdog):
        super().__init__(where.host, where.port, timeout=max(deadline - time.monotonic(), 0))
        self._where, self._addresses, self._deadline, self._dog = where, addresses, deadline, dog

    def connect(self) -> None:
        failure: OSError = ConnectionRefusedError()
        for address in self._addresses:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                sock = socket.create_connection((address, self._where.port), timeout=remaining)
                break
            except OSError as error:
                failure = error
        else:
            raise failure
        self._dog.watch(sock)
        if self._where.scheme == "https":
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self._where.host)
        self.sock = sock


def _reason(error: BaseException, dog: _Watchdog) -> str:
    if dog.fired or isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return "TLS failed"
    if isinstance(error, http.client.HTTPException):
        return "bad answer"
    return "connection failed"


def _checked(url: str) -> tuple[Target, list[str]]:
    """The URL's target and its resolved addresses, every one checked; else `Refused`."""
    where = target(url)
    try:
        addresses = resolve(where.host, where.port)
    except (OSError, UnicodeError):
        raise Refused("name not resolved") from None
    for address in addresses:
        check_address(address)
    return where, addresses


def get_json(url: str, max_bytes: int, timeout: float | None = None):
    """GET `url` and parse its JSON body (at most `max_bytes`) within `timeout` seconds in
    all (WEBHOOK_TIMEOUT by default); `Refused` with a generic reason for anything else."""
    deadline = time.monotonic() + (settings.WEBHOOK_TIMEOUT if timeout is None else timeout)
    where, addresses = _checked(url)
    with _Watchdog(deadline) as dog:
        connection = _PinnedConnection(where, addresses, deadline, dog)
        try:
            connection.request("GET", where.path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            body = response.read(max_bytes + 1) if response.status == 200 else b""
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise Refused(_reason(error, dog)) from None
        finally:
            connection.close()
    if response.status != 200:
        redirect = " (redirects are not followed)" if 300 <= response.status < 400 else ""
        raise Refused(f"HTTP {response.status}{redirect}")
    if len(body) > max_bytes:
        raise Refused(f"answer larger than {max_bytes} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise Refused("not JSON") from None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Answer:
    """POST `body` to `url` within `timeout` seconds in all (WEBHOOK_TIMEOUT by default).
    Never raises for the network or the URL: the answer says what happened."""
    started = time.monotonic()
    deadline = started + (settings.WEBHOOK_TIMEOUT if timeout is None else timeout)

    def answer(status: int | None, reason: str) -> Answer:
        return Answer(status, reason, int((time.monotonic() - started) * 1000))

    try:
        where, addresses = _checked(url)
    except Refused as refused:
        return answer(None, str(refused))

    with _Watchdog(deadline) as dog:
        connection = _PinnedConnection(where, addresses, deadline, dog)
        try:
            connection.request("POST", where.path, body=body, headers=headers)
            status = connection.getresponse().status  # the body is never read
        except (OSError, http.client.HTTPException, ValueError) as error:
            return answer(None, _reason(error, dog))
        finally:
            connection.close()
    if 200 <= status < 300:
        return answer(status, "")
    if 300 <= status < 400:
        return answer(status, f"HTTP {status} (redirects are not followed)")
    return answer(status, f"HTTP {status}")
