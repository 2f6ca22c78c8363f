"""WARC 1.1 records of one capture, written with warcio.

Each exchange becomes a request and a response record (WARC-Concurrent-To ties them), the
response naming the server's IP address (WARC-IP-Address); a metadata record beside it keeps
what the browser reported of the connection: port and TLS certificate (subject, issuer,
protocol, validity). Chromium hands bodies over decoded, so a response whose body was
compressed on the wire keeps its original Content-Encoding as X-Archive-Orig-Content-Encoding
and a Content-Length that matches the body written. A response whose body was not kept (it
never finished, or the size cap was reached) is written with WARC-Truncated. The browser does
not say which HTTP version it spoke; the status line is written as HTTP/1.1. The screenshot,
the print and the page's text follow as resource records (urn:view:, urn:pdf:, urn:text:),
the way Browsertrix keeps them.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from docket.capture.browser import Exchange

_HOP_BY_HOP = {"content-encoding", "transfer-encoding", "content-length"}
_NO_BODY = {204, 304}


def warc_date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WarcFile:
    """An open .warc.gz, complete once closed."""

    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        self.path = path
        self._file: BinaryIO = path.open("xb")
        self._writer = WARCWriter(self._file, gzip=True, warc_version="1.1")
        record = self._writer.create_warcinfo_record(path.name, info)
        self._writer.write_record(record)
        self.records = 1

    def exchange(self, exchange: Exchange) -> None:
        date = warc_date(exchange.time)
        response = self._response(exchange, date)
        self._writer.write_record(response)
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request = self._request(exchange, date, response_id)
        self._writer.write_record(request)
        connection = {
            "server_ip": exchange.server_ip,
            "server_port": exchange.server_port,
            "tls": exchange.tls,
        }
        self.records += 2
        self.metadata(exchange.url, connection, date, response_id)

    def _response(self, exchange: Exchange, date: str) -> Any:
        body = exchange.body if exchange.body is not None else b""
        headers: list[tuple[str, str]] = []
        for name, value in exchange.response_headers:
            lower = name.lower()
            if lower == "content-encoding" and exchange.body is not None:
                headers.append(("X-Archive-Orig-Content-Encoding", value))
            elif lower not in _HOP_BY_HOP:
                headers.append((name, value))
        if exchange.body is not None:
            headers.append(("Content-Length", str(len(body))))
        status = f"{exchange.status} {exchange.status_text}".strip()
        http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        warc_headers = {"WARC-Date": date}
        if exchange.server_ip:
            warc_headers["WARC-IP-Address"] = exchange.server_ip
        truncated = exchange.body is None and not (
            300 <= exchange.status < 400 or exchange.status in _NO_BODY
        )
        if truncated:
            warc_headers["WARC-Truncated"] = "unspecified"
        return self._writer.create_warc_record(
            exchange.url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict=warc_headers,
        )

    def _request(self, exchange: Exchange, date: str, response_id: str) -> Any:
        body = exchange.request_body or b""
        path = exchange.url.split("://", 1)[-1]
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
        headers = [(k, v) for k, v in exchange.request_headers.items() if not k.startswith(":")]
        http = StatusAndHeaders(f"{exchange.method} {path}", headers, protocol="HTTP/1.1")
        return self._writer.create_warc_record(
            exchange.url,
            "request",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http,
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
        )

    def metadata(
        self, url: str, facts: dict[str, Any], date: str, concurrent_to: str | None = None
    ) -> None:
        data = json.dumps(facts, ensure_ascii=False, sort_keys=True).encode()
        headers = {"WARC-Date": date}
        if concurrent_to is not None:
            headers["WARC-Concurrent-To"] = concurrent_to
        self.records += 1
        record = self._writer.create_warc_record(
            url,
            "metadata",
            payload=io.BytesIO(data),
            length=len(data),
            warc_content_type="application/json",
            warc_headers_dict=headers,
        )
        self._writer.write_record(record)

    def resource(self, uri: str, content_type: str, data: bytes, seconds: float) -> None:
        record = self._writer.create_warc_record(
            uri,
            "resource",
            payload=io.BytesIO(data),
            length=len(data),
            warc_content_type=content_type,
            warc_headers_dict={"WARC-Date": warc_date(seconds)},
        )
        self._writer.write_record(record)
        self.records += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> WarcFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
