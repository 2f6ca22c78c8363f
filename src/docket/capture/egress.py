"""The capture's one way out: a forward proxy on loopback, of the capture's own, through which
the browser, its request client and yt-dlp reach the web when no --proxy is given.

The guard judged a URL by a lookup of its own, but the browser and yt-dlp then looked the name
up again and followed redirects by themselves: a redirect to 127.0.0.1, a name whose DNS answer
changed (rebinding), a preconnect or a TURN server over TCP reached this machine's network
unchecked. Here every connection is opened by this proxy, to an address the guard has just
judged: a name is looked up once per capture (Guard.addresses) and the connection goes to that
answer, never to a second lookup's. A refused request is noted and never reaches its server.

Written by hand (asyncio streams): the forward proxies packaged for Python resolve and connect
by themselves, and the one thing this proxy is for is to connect only to the judged address.
A plain http request is sent on with `Connection: close`, and its answer comes back with
`Connection: close` in its head: one exchange per connection, and nothing else the client
sends on it is passed on, so a kept-alive connection (yt-dlp's pool keeps one to the proxy for
every host) never carries a request for one host to another host's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import threading
from collections.abc import Coroutine, Iterator
from typing import Any
from urllib.parse import urlsplit

from docket.capture.guard import CaptureRefusedError, Guard, private_address

MAX_HEAD = 64 * 1024  # a request's line and headers
CHUNK = 64 * 1024
_HOP_BY_HOP = (
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"proxy-authorization",
    b"expect",  # the body is sent at once; a 100 Continue would only be one more head
)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.phrase = {400: "Bad Request", 403: "Forbidden"}.get(status, "Bad Gateway")


class Egress:
    """Runs while its `with` block does; `url` is the proxy's address for the browser and
    yt-dlp, `refused` what the guard refused, `problems` that and every connection it could not
    make, `server(url)` the address it connected to for a URL."""

    def __init__(self, guard: Guard, connect_timeout: float = 30.0) -> None:
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.url = ""
        self.refused: list[str] = []
        self.problems: list[str] = []
        self._servers: dict[tuple[str, int], tuple[str, int]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    def __enter__(self) -> Egress:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        port = started.result(timeout=30)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def server(self, url: str) -> tuple[str, int] | None:
        """The address this proxy connected to for `url`'s host and port, if it did."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        except ValueError:
            return None
        return self._servers.get(((parts.hostname or "").rstrip(".").lower(), port))

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0, limit=MAX_HEAD)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the browser went away, or sent what no proxy could take: nothing to note
        except asyncio.CancelledError:
            pass  # the capture ended: ended quietly (3.11's server would print each one)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")  # at most MAX_HEAD (the stream's limit)
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode("latin-1").split(" ", 2)
        try:
            body = 0
            if method.upper() == "CONNECT":
                host, port = _authority(target)
                url = f"https://{_bracketed(host)}:{port}/"
            else:
                parts = urlsplit(target)
                if parts.scheme.lower() != "http" or not parts.hostname:
                    raise _Refused(400, f"{target[:200]}: not a request a proxy takes")
                host, port = parts.hostname, parts.port or 80
                url = target
                body = _body_length(rest, target)
            upstream_reader, upstream = await self._connect(url, host, port)
        except _Refused as exc:
            self.problems.append(str(exc))
            if method.upper() == "CONNECT":  # the browser takes it as a failed tunnel
                writer.write(f"{version} {exc.status} {exc.phrase}\r\n\r\n".encode())
                await writer.drain()
            # A plain http request gets no answer at all: an answer of ours would be recorded
            # in the WARC as the server's.
            return
        try:
            if method.upper() == "CONNECT":
                writer.write(f"{version} 200 Connection Established\r\n\r\n".encode())
                await _relay(reader, writer, upstream_reader, upstream)
                return
            path = urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
            upstream.write(f"{method} {path} {version}\r\n".encode() + _closing(rest) + b"\r\n")
            if body:
                upstream.write(await reader.readexactly(body))
            await upstream.drain()
            await _one_response(reader, writer, upstream_reader)
        finally:
            upstream.close()

    async def _connect(
        self, url: str, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to an address of `host` the guard judged (refused: _Refused)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.guard.check, url)
            name = host.strip("[]").rstrip(".").lower()
            addresses = await loop.run_in_executor(None, self._addresses, url, name)
            for address in addresses:  # what the connection will reach, judged itself
                if private_address(address) or not _an_address(address):
                    raise Guard.refusal(url, f"{name} ({address})")
        except CaptureRefusedError as exc:
            self.refused.append(str(exc))
            raise _Refused(403, str(exc)) from exc
        failed = ""
        for address in addresses:
            try:
                connected = await asyncio.wait_for(
                    asyncio.open_connection(address, port), self.connect_timeout
                )
            except (OSError, TimeoutError) as exc:
                failed = f"{address}: {exc or type(exc).__name__}"
                continue
            self._servers[(name, port)] = (address, port)
            return connected
        raise _Refused(502, f"{url[:200]}: cannot connect ({failed})")

    def _addresses(self, url: str, name: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(name))]
        except ValueError:
            return self.guard.addresses(url, name)


def _an_address(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _authority(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise _Refused(400, f"{target[:200]}: not host:port")
    return host.strip("[]"), int(port)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _closing(headers: bytes) -> bytes:
    """The request's headers with its hop-by-hop ones dropped and `Connection: close` added."""
    kept = [
        line
        for line in headers.split(b"\r\n")
        if line and line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP
    ]
    return b"".join(line + b"\r\n" for line in kept) + b"Connection: close\r\n"


def _body_length(headers: bytes, target: str) -> int:
    """The request body's length (0: none); a body sent in chunks is refused, since its end
    could not be told from a next request's start without parsing it."""
    length = 0
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            raise _Refused(400, f"{target[:200]}: a request body sent in chunks")
        if name == b"content-length":
            if not value.strip().isdigit():
                raise _Refused(400, f"{target[:200]}: not a body length: {value[:40]!r}")
            length = int(value.strip())
    return length


async def _one_response(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
) -> None:
    """One plain http exchange: the server's answer with `Connection: close` put in its head,
    so that the client sends its next request on a new connection (judged anew), never on
    this one to this server; nothing more the client sends is passed on."""
    while True:
        head = await server_reader.readuntil(b"\r\n\r\n")
        status, _, headers = head.partition(b"\r\n")
        if not re.match(rb"HTTP/1\.[01] 1\d\d", status):
            break
        client.write(head)  # 1xx (103 Early Hints): an interim answer, then the real one
    client.write(status + b"\r\n" + _closing(headers) + b"\r\n")
    await _until_either(_pipe(server_reader, client), _discard(client_reader))


async def _discard(reader: asyncio.StreamReader) -> None:
    """Read until the client closes (it would only send a request not to be passed on)."""
    with contextlib.suppress(OSError):
        while await reader.read(CHUNK):
            pass


async def _relay(
    client_reader: asyncio.StreamReader,
    client: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server: asyncio.StreamWriter,
) -> None:
    """Bytes both ways until either side is done."""
    await _until_either(_pipe(client_reader, server), _pipe(server_reader, client))


async def _until_either(*ways: Coroutine[Any, Any, None]) -> None:
    """Run `ways` until one of them ends; the others are stopped."""
    tasks = {asyncio.ensure_future(way) for way in ways}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()


@contextlib.contextmanager
def egress_for(guard: Guard) -> Iterator[Egress | None]:
    """An Egress, unless the capture needs none: through --proxy (names are the proxy's to
    resolve, and its network is not this machine's) or with the private network allowed."""
    if guard.proxied or guard.allow_private_network:
        yield None
        return
    with Egress(guard) as egress:
        yield egress
