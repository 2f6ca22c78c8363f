"""Which addresses a capture may reach: http and https only, never this machine's network.

A capture started from the web app must not turn the server into a scanner of its own network,
so `file:`, `data:` and every other scheme are refused, and so are hosts that are or resolve to
a loopback, private, link-local, shared, multicast, reserved or unspecified address, unless the
capture allows the private network. The check runs on the URL asked, on every request the page
makes (the browser's route), on each download, and, without --proxy, on every connection the
capture opens (docket.capture.egress, which connects only to the addresses judged here, looked
up once per capture). With a --proxy the host's name is not resolved here (that would leak it
to the local resolver) and the address a response came from is the proxy's; literal addresses
and local names are still refused, and the proxy decides where a name leads.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from urllib.parse import urlsplit

from docket.errors import DocketError

SCHEMES = ("http", "https")
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class CaptureRefusedError(DocketError):
    """A URL a capture must not reach (another scheme, or this machine's network)."""


# IPv6 prefixes whose addresses carry an IPv4 address in their last 32 bits: NAT64's well-known
# and local-use prefixes (RFC 6052, 8215) and IPv4-compatible addresses (::a.b.c.d, deprecated
# but still routed by some stacks). Python counts them global whatever IPv4 address they carry.
_CARRYING_IPV4 = tuple(
    ipaddress.ip_network(prefix) for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96")
)


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # A gateway (NAT64, 6to4, Teredo) may lead such an address to the IPv4 one it carries:
        # it is judged as that address too.
        carried = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        if any(ip in network for network in _CARRYING_IPV4):
            carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(inner is not None and _private(str(inner)) for inner in carried):
            return True
    return not ip.is_global or ip.is_multicast


def private_address(address: str) -> bool:
    """Whether a server's IP address (as the browser reports it) is on a private network."""
    try:
        return _private(address)
    except ValueError:
        return False


# How long a name's lookup may take. The system's resolver alone may retry for half a minute
# or more (its timeout, times its attempts, times its servers), and getaddrinfo takes no
# deadline: a page's one slow host must not hold up the capture past this.
DNS_DEADLINE = 10.0
# How many names may be waiting for an answer at once. Each lookup has a thread: a page that
# asks for thousands of names that never answer (random subdomains of a slow zone) must not
# start thousands of threads. A name asked past this is refused at once, and not remembered.
MOST_LOOKUPS = 32


class _Lookup:
    """One name's lookup, started once and shared by every request for the name during a
    capture. It runs on a thread of its own, left to finish in the background when it misses
    its deadline (nothing can cancel getaddrinfo); a late answer is not taken."""

    def __init__(self, host: str, slots: threading.BoundedSemaphore) -> None:
        self.host = host
        self.slots = slots  # one taken for this lookup, given back when it ends
        self.deadline = time.monotonic() + DNS_DEADLINE
        self.addresses: list[str] = []
        self.error: str | None = None
        self.done = threading.Event()
        threading.Thread(target=self._run, name="capture-dns", daemon=True).start()

    def _run(self) -> None:
        try:
            infos = socket.getaddrinfo(self.host, None, proto=socket.IPPROTO_TCP)
            self.addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        except (OSError, UnicodeError) as exc:
            self.error = str(exc)
        finally:
            if time.monotonic() > self.deadline:
                self.error = f"no answer within {DNS_DEADLINE:g} s"
            self.done.set()
            self.slots.release()

    def answer(self) -> list[str]:
        """The name's addresses; ValueError with the reason when it has none."""
        if not self.done.wait(max(0.0, self.deadline - time.monotonic())):
            raise ValueError(f"no answer within {DNS_DEADLINE:g} s")
        if self.error is not None:
            raise ValueError(self.error)
        return self.addresses


class Guard:
    def __init__(self, allow_private_network: bool = False, proxied: bool = False) -> None:
        self.allow_private_network = allow_private_network
        self.proxied = proxied
        # One answer per name for the whole capture: the addresses judged are the addresses
        # connected to (docket.capture.egress), whatever the name's DNS says later. Names are
        # looked up side by side: a slow one holds up only the requests that need it.
        self._lookups: dict[str, _Lookup] = {}
        self._starting = threading.Lock()
        self._slots = threading.BoundedSemaphore(MOST_LOOKUPS)

    def check(self, url: str) -> None:
        """Raise CaptureRefusedError naming the URL and the reason, or return."""
        shown = _without_credentials(url)[:200]
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (a port out of range raises here)
        except ValueError as exc:
            raise CaptureRefusedError(f"{shown}: refused: not a URL ({exc})") from exc
        if parts.scheme.lower() not in SCHEMES:
            raise CaptureRefusedError(
                f"{shown}: refused: only http and https can be captured, not "
                f"{parts.scheme or 'a URL without a scheme'}"
            )
        if parts.username is not None or parts.password is not None:
            raise CaptureRefusedError(
                f"{shown}: refused: a user name or password in the address would be kept "
                "in the custody log and every package for ever; leave it out (to capture as a "
                "signed-in visitor, use a kept profile: --profile)"
            )
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            raise CaptureRefusedError(f"{shown}: refused: no host")
        if self.allow_private_network:
            return
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            raise self.refusal(url, host)
        try:
            if _private(host):
                raise self.refusal(url, host)
            return
        except ValueError:
            pass  # a name, not an address
        if self.proxied:
            return
        for address in self.addresses(url, host):
            if _private(address):
                raise self.refusal(url, f"{host} ({address})")

    def addresses(self, url: str, host: str) -> list[str]:
        """The addresses of `host`, looked up once per capture (the first answer stays), or
        CaptureRefusedError when it has none within DNS_DEADLINE."""
        with self._starting:
            lookup = self._lookups.get(host)
            if lookup is None:
                if not self._slots.acquire(blocking=False):
                    raise CaptureRefusedError(
                        f"{url[:200]}: cannot resolve {host}: {MOST_LOOKUPS} other names are "
                        "still being looked up"
                    )
                lookup = self._lookups[host] = _Lookup(host, self._slots)
        try:
            return lookup.answer()
        except ValueError as exc:
            raise CaptureRefusedError(f"{url[:200]}: cannot resolve {host}: {exc}") from exc

    def allows(self, url: str) -> bool:
        try:
            self.check(url)
        except CaptureRefusedError:
            return False
        return True

    def check_server(self, url: str, address: str | None) -> None:
        """The address a response came from; refused like the URL's own host. Through a
        proxy it is the proxy's address (often this machine's, as Tor's is): not checked."""
        if self.proxied:
            return
        if address and not self.allow_private_network and private_address(address):
            raise self.refusal(url, address)

    @staticmethod
    def refusal(url: str, where: str) -> CaptureRefusedError:
        return CaptureRefusedError(
            f"{url[:200]}: refused: {where} is on a private or local network "
            "(give --allow-private-network to capture it)"
        )


PROXY_SCHEMES = {"http": "http", "https": "https", "socks5": "socks5", "socks5h": "socks5"}


_CREDENTIALS = re.compile(r"^([^:/?#]*:?//)[^/?#]*@")


def _without_credentials(url: str) -> str:
    """The URL as it may be shown: whatever precedes an "@" in its authority replaced."""
    return _CREDENTIALS.sub(r"\1…@", url, count=1)


def proxy_for_browser(proxy: str) -> str:
    """The proxy as Chromium takes it; refused unless it leaves names to the proxy to resolve
    (SOCKS4 would resolve them here, past Tor)."""
    scheme, sep, rest = proxy.partition("://")
    if not sep or scheme.lower() not in PROXY_SCHEMES or not rest.strip("/"):
        raise CaptureRefusedError(
            f"--proxy {proxy[:200]}: refused: give http://, https:// or socks5://HOST:PORT "
            "(a SOCKS4 proxy would leave names to be resolved on this machine)"
        )
    return f"{PROXY_SCHEMES[scheme.lower()]}://{rest}"
