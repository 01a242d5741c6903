"""The emulator's HTTP server: werkzeug's threaded WSGI server with HTTP/1.1 keep-alive.

werkzeug's development server answers every request with `Connection: close`, so a client writing
EBS direct blocks opened a new TCP connection, and the server a new thread, for each 512 KiB block.
This handler keeps the connection open between requests, as AWS's endpoints and the SDK's keep-alive
agents expect (RFC 9112 section 9.3, persistent connections). What makes that safe: the handler knows
where each request ends (Content-Length, or chunked transfer coding) and reads whatever the
application left unread before it parses the next request.
"""

from __future__ import annotations

import socket
import sys
from typing import Any
from urllib.parse import unquote

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

# An idle connection is closed after this many seconds; the `Keep-Alive: timeout=` hint tells clients a
# little less so that they stop reusing a connection before the server closes it.
IDLE_TIMEOUT_S = 60
_KEEP_ALIVE_HINT = f"timeout={IDLE_TIMEOUT_S - 5}"
_DRAIN_CHUNK = 1 << 20
# Responses at most this large go out in one write with their headers (no Nagle/delayed-ACK stall).
_COALESCE_MAX = 1 << 16
# As http.client: at most this many header lines, each at most 64 KiB.
_MAX_HEADERS = 100
_MAX_LINE = 65536


def _latin1(text: str) -> str:
    """WSGI's "bytes as latin-1" strings (PEP 3333), as werkzeug makes them."""
    return text if text.isascii() else text.encode().decode("latin1")


class RequestHeaders:
    """The request's header fields: what http.server's email-based parser gives, at a fraction of its
    cost (it was half the server's CPU per request). Names are case-insensitive; repeated fields are
    joined with ", " (RFC 9110 section 5.3)."""

    __slots__ = ("_fields", "_by_name")

    def __init__(self, fields: list[tuple[str, str]]):
        self._fields = fields
        self._by_name: dict[str, str] = {}
        for name, value in fields:
            key = name.lower()
            known = self._by_name.get(key)
            self._by_name[key] = value if known is None else f"{known}, {value}"

    def get(self, name: str, default: Any = None) -> Any:
        return self._by_name.get(name.lower(), default)

    def __getitem__(self, name: str) -> str | None:
        return self._by_name.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def items(self) -> list[tuple[str, str]]:
        return self._fields

    def keys(self) -> list[str]:
        return [name for name, _ in self._fields]

    def get_all(self, name: str, failobj: Any = None) -> Any:
        key = name.lower()
        values = [value for field, value in self._fields if field.lower() == key]
        return values or failobj


class RequestBody:
    """The request body as a stream that ends at Content-Length (so an application cannot read into the
    next request on the connection)."""

    __slots__ = ("_rfile", "remaining")

    def __init__(self, rfile: Any, length: int):
        self._rfile = rfile
        self.remaining = length

    def _allowed(self, size: int | None) -> int:
        """How much a read of `size` (None or negative: all) may take: at most what is left of the body."""
        return self.remaining if size is None or size < 0 or size > self.remaining else size

    def read(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        size = self._allowed(size)
        data = self._rfile.read(size)
        self.remaining -= len(data)
        if len(data) < size:
            # The client closed the connection mid-body.
            self.remaining = 0
            raise ConnectionError("the client closed the connection before sending the whole body")
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        line = self._rfile.readline(self._allowed(size))
        self.remaining -= len(line)
        return line

    def __iter__(self) -> Any:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def drain(self) -> None:
        while self.remaining > 0:
            self.read(min(self.remaining, _DRAIN_CHUNK))


class KeepAliveRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # Small responses must not wait for the client's delayed ACK of the previous write.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def parse_request(self) -> bool:
        """The request line and header fields of an HTTP/1.x request (anything else: http.server's
        own parser, which answers the errors)."""
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.requestline = requestline
        self.command, self.path, self.request_version = words
        if self.path.startswith("//"):
            # http.server's guard against open redirects; keep its behaviour.
            self.path = "/" + self.path.lstrip("/")
        fields: list[tuple[str, str]] = []
        while True:
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                self.send_error(431, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            if len(fields) >= _MAX_HEADERS:
                self.send_error(431, "Too many headers")
                return False
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and fields:
                # obs-fold (RFC 9112 section 5.2): a continuation of the previous field's value.
                name, value = fields[-1]
                fields[-1] = (name, f"{value} {text.strip()}")
                continue
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip():
                self.send_error(400, "Bad header line")
                return False
            fields.append((name, value.strip()))
        self.headers = RequestHeaders(fields)  # type: ignore[assignment]
        connection = (self.headers.get("Connection") or "").lower()
        if self.request_version == "HTTP/1.1":
            self.close_connection = "close" in connection
        else:
            self.close_connection = "keep-alive" not in connection
        return True

    def handle_expect_100(self) -> bool:
        # run_wsgi answers "100 Continue" itself (once).
        return True

    def make_environ(self) -> dict[str, Any]:
        """werkzeug's WSGI environ (serving.WSGIRequestHandler.make_environ), built with less work."""
        if not self.path.startswith("/"):
            return super().make_environ()  # an absolute URL or '*': werkzeug's rules
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": self.rfile,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": _latin1(unquote(path) if "%" in path else path),
            "QUERY_STRING": _latin1(query),
            "REQUEST_URI": _latin1(self.path),
            "RAW_URI": _latin1(self.path),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
        }
        for name, value in self.headers.items():
            if "_" in name:
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = f"HTTP_{key}"
                if key in environ:
                    value = f"{environ[key]},{value}"
            environ[key] = value
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            from werkzeug.serving import DechunkedInput

            environ["wsgi.input_terminated"] = True
            environ["wsgi.input"] = DechunkedInput(self.rfile)
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request is noise (the launcher keeps only the tail of stderr); errors still log.
        pass

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.environ = self.make_environ()
        body: RequestBody | None = None
        if environ.get("wsgi.input_terminated"):
            # Chunked: werkzeug's DechunkedInput ends the stream; we do not drain it, so close afterwards.
            self.close_connection = True
        else:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                self.send_error(400, "Content-Length is not a non-negative integer")
                return
            body = RequestBody(self.rfile, length)
            environ["wsgi.input"] = body
            environ["wsgi.input_terminated"] = True

        status: list[str] = []
        headers: list[list[tuple[str, str]]] = []

        def start_response(status_line: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and status:
                raise exc_info[1].with_traceback(exc_info[2])
            status[:] = [status_line]
            headers[:] = [list(response_headers)]
            return lambda data: pending.append(data)

        pending: list[bytes] = []
        try:
            result = self.server.app(environ, start_response)
            try:
                self._respond(environ, status[0], headers[0], pending, result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if body is not None and body.remaining:
                body.drain()
        except (ConnectionError, TimeoutError) as error:
            self.close_connection = True
            self.connection_dropped(error, environ)
        except Exception as error:  # noqa: BLE001 - any application failure becomes a 500
            self.close_connection = True
            if not getattr(self, "_headers_sent", False):
                try:
                    self._write_simple(500, b"Internal Server Error")
                except OSError:
                    pass
            self.server.log("error", f"Error on request {self.command} {self.path}: {error!r}")
        finally:
            self._headers_sent = False

    def _respond(
        self,
        environ: dict[str, Any],
        status_line: str,
        response_headers: list[tuple[str, str]],
        pending: list[bytes],
        result: Any,
    ) -> None:
        names = {name.lower() for name, _ in response_headers}
        code = int(status_line.split(None, 1)[0])
        no_body = environ["REQUEST_METHOD"] == "HEAD" or 100 <= code < 200 or code in (204, 304)
        if "content-length" in names or no_body:
            chunks = None
        else:
            # moto's responses are small and whole: buffer them to announce their length.
            chunks = pending + [chunk for chunk in result if chunk]
            response_headers.append(("Content-Length", str(sum(len(c) for c in chunks))))
        if self.close_connection:
            response_headers.append(("Connection", "close"))
        else:
            response_headers.append(("Keep-Alive", _KEEP_ALIVE_HINT))
        head = [f"HTTP/1.1 {status_line}\r\n".encode("latin-1")]
        for name, value in response_headers:
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"\r\n")
        head_bytes = b"".join(head)
        self._headers_sent = True
        if no_body:
            self.wfile.write(head_bytes)
            return
        if chunks is None:
            chunks = pending + [chunk for chunk in result if chunk]
        if len(chunks) == 1 and len(chunks[0]) <= _COALESCE_MAX:
            self.wfile.write(head_bytes + chunks[0])
            return
        self.wfile.write(head_bytes)
        for chunk in chunks:
            self.wfile.write(chunk)

    def _write_simple(self, code: int, text: bytes) -> None:
        self.wfile.write(
            f"HTTP/1.1 {code} Error\r\nContent-Type: text/plain\r\nContent-Length: {len(text)}\r\n"
            "Connection: close\r\n\r\n".encode("latin-1") + text
        )


class EmulatorServer(ThreadedWSGIServer):
    # Many SDK clients keep dozens of connections each; the default backlog (128) is enough, threads are
    # per connection.
    daemon_threads = True


def make_keep_alive_server(host: str, port: int, app: Any) -> EmulatorServer:
    return EmulatorServer(host, port, app, KeepAliveRequestHandler)
