"""Unit tests of the keep-alive HTTP server (python3 -m unittest discover -s tests, from emulator/)."""

import http.client
import threading
import unittest

from ec2restore_emulator.http_server import make_keep_alive_server


def app(environ, start_response):  # type: ignore[no-untyped-def]
    path = environ["PATH_INFO"]
    peer = f"{environ['REMOTE_ADDR']}:{environ['REMOTE_PORT']}".encode()
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(body) + len(peer) + 1))])
        return [peer, b" ", body]
    if path == "/ignore-body":
        # Does not read the request body: the server must skip it before the next request.
        start_response("201 Created", [])
        return [peer]
    if path == "/headers":
        body = f"{environ.get('HTTP_X_REPEATED')}|{environ.get('HTTP_X_FOLDED')}|{environ['PATH_INFO']}".encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/fail":
        raise RuntimeError("application bug")
    start_response("204 No Content", [])
    return []


class KeepAliveServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = make_keep_alive_server("127.0.0.1", 0, app)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.connection = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=10)

    def tearDown(self) -> None:
        self.connection.close()
        self.server.shutdown()
        self.server.server_close()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, dict[str, str]]:
        self.connection.request(method, path, body=body)
        response = self.connection.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}

    def test_requests_share_one_connection_even_when_the_app_leaves_the_body_unread(self) -> None:
        status, first, headers = self.request("PUT", "/ignore-body", b"x" * 700_000)
        self.assertEqual(status, 201)
        self.assertEqual(headers["content-length"], str(len(first)))
        self.assertIn("keep-alive", headers)
        status, second, _ = self.request("PUT", "/echo", b"hello")
        self.assertEqual(status, 200)
        peer, _, body = second.partition(b" ")
        self.assertEqual(body, b"hello")
        self.assertEqual(peer, first)  # the same client port: the same TCP connection
        status, _, _ = self.request("GET", "/nothing")
        self.assertEqual(status, 204)

    def test_header_fields_and_the_path_reach_the_application_as_in_werkzeug(self) -> None:
        import socket

        with socket.create_connection(("127.0.0.1", self.server.server_address[1]), timeout=10) as raw:
            raw.sendall(
                b"GET /headers HTTP/1.1\r\nHost: x\r\nX-Repeated: a\r\nx-repeated: b\r\n"
                b"X-Folded: one\r\n two\r\nConnection: close\r\n\r\n"
            )
            reply = b""
            while chunk := raw.recv(65536):  # the server closes: Connection: close was asked for
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        self.assertIn(b"Connection: close", head)
        self.assertEqual(body, b"a,b|one two|/headers")

    def test_an_application_error_is_a_500_and_closes_the_connection(self) -> None:
        status, _, headers = self.request("GET", "/fail")
        self.assertEqual(status, 500)
        self.assertEqual(headers.get("connection"), "close")
        # http.client reconnects by itself; the server still serves.
        status, body, _ = self.request("PUT", "/echo", b"again")
        self.assertEqual((status, body.endswith(b" again")), (200, True))


if __name__ == "__main__":
    unittest.main()
