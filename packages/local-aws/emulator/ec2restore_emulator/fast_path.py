"""The EBS direct data plane served ahead of Flask and moto's generic request handling.

PutSnapshotBlock, GetSnapshotBlock and ListSnapshotBlocks are most of the requests a restore makes
(one per 512 KiB block). Through moto each one paid Flask's request setup, moto's dispatch and
parameter parsing, and werkzeug reading the body in 64 KiB pieces: several milliseconds of CPU per
block. Here a request for these three operations is recognised by its path, method and SigV4 service
(`ebs`) and handed straight to the same block operations moto's handlers use (ebs_direct.put_block,
get_block, list_blocks), so the checks and answers are the same; everything else goes to moto.

The request paths follow the EBS direct API reference:
PUT /snapshots/{snapshotId}/blocks/{blockIndex}
(https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html),
GET /snapshots/{snapshotId}/blocks/{blockIndex}?blockToken=...
(https://docs.aws.amazon.com/ebs/latest/APIReference/API_GetSnapshotBlock.html),
GET /snapshots/{snapshotId}/blocks
(https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html).
The caller's account and region are found as moto finds them (moto.core.responses.BaseResponse:
get_current_account, get_region_from_url), so a request lands in the same backend either way, and
the caller's IAM identity policies are checked first by the same gate moto's path uses
(iam_rules.refusal_for).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any
from urllib.parse import parse_qs

from . import ebs_direct, ebs_limits
from .errors import RestJsonError

_BLOCKS_PATH = re.compile(r"^/snapshots/([^/]+)/blocks(?:/([^/]+))?/?$")


class _ParsedUrl:
    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path


class _GateView:
    """What iam_rules.refusal_for reads of a moto response object, for a request served here."""

    service_name = "ebs"
    uri_match = None

    def __init__(self, action: str, access_key: str, region: str, path: str):
        self._action = action
        self._access_key = access_key
        self.region = region
        self.parsed_url = _ParsedUrl(path)

    def _get_action(self) -> str:
        return self._action

    def get_access_key(self) -> str:
        return self._access_key


def _credential_scope(environ: dict[str, Any]) -> list[str] | None:
    """[access key, date, region, service, 'aws4_request'] of a SigV4 Authorization header."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = auth.find("Credential=")
    if marker < 0:
        return None
    end = auth.find(",", marker)
    scope = auth[marker + len("Credential=") : end if end >= 0 else None].strip().split("/")
    return scope if len(scope) == 5 else None


class EbsDirectFastPath:
    """WSGI middleware: the EBS direct block operations here, every other request to `app` (moto)."""

    def __init__(self, app: Any):
        from moto.core.responses import BaseResponse

        self.app = app
        self._access_key_regex = BaseResponse.access_key_regex
        self._region_regex = BaseResponse.region_regex
        self._region_from_useragent_regex = BaseResponse.region_from_useragent_regex
        from .iam_rules import refusal_for

        self._refusal_for = refusal_for

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/snapshots/"):
            method = environ["REQUEST_METHOD"]
            match = _BLOCKS_PATH.match(path) if method in ("PUT", "GET") else None
            scope = _credential_scope(environ) if match else None
            if scope is not None and scope[3] == "ebs" and (method == "GET" or match.group(2) is not None):
                try:
                    return self._serve(environ, start_response, method, match.group(1), match.group(2), scope)
                except RestJsonError as error:
                    return error(environ, start_response)
        return self.app(environ, start_response)

    def _serve(
        self,
        environ: dict[str, Any],
        start_response: Any,
        method: str,
        snapshot_id: str,
        block_index: str | None,
        scope: list[str],
    ) -> Any:
        match = self._access_key_regex.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key = match.group(1) if match else "AKIAEXAMPLE"
        region = self._region(environ, scope)
        action = "ListSnapshotBlocks" if block_index is None else ("PutSnapshotBlock" if method == "PUT" else "GetSnapshotBlock")
        refusal = self._refusal_for(_GateView(action, access_key, region, environ["PATH_INFO"]))
        if refusal is not None:
            return refusal(environ, start_response)
        snapshot = self._own_snapshot(self._account(environ, access_key), region, snapshot_id)
        if block_index is None:
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            body = json.dumps(ebs_direct.list_blocks(snapshot, query)).encode()
            return _answer(start_response, "200 OK", "application/json", body, {})
        if method == "PUT":
            # In flight from before its body is read, as AWS counts a request (ebs_limits.py).
            with ebs_limits.in_flight(getattr(snapshot, "account_id", "")):
                data = environ["wsgi.input"].read()
                checksum = ebs_direct.put_block(snapshot, block_index, data, environ.get("HTTP_X_AMZ_CHECKSUM", ""))
            headers = {"x-amz-Checksum": checksum, "x-amz-Checksum-Algorithm": "SHA256"}
            return _answer(start_response, "201 Created", "application/json", b"{}", headers)
        block = ebs_direct.get_block(snapshot, block_index)
        data = ebs_direct.block_store().read(block.digest, block.length)
        return _answer(start_response, "200 OK", "application/octet-stream", data, ebs_direct.block_headers(block))

    def _own_snapshot(self, account: str, region: str, snapshot_id: str) -> Any:
        from .volume_data import ebs_snapshot

        return ebs_snapshot(account, region, snapshot_id)

    def _account(self, environ: dict[str, Any], access_key: str) -> str:
        # The order of moto's BaseResponse.get_current_account.
        if "MOTO_ACCOUNT_ID" in os.environ:
            return os.environ["MOTO_ACCOUNT_ID"]
        if "HTTP_X_MOTO_ACCOUNT_ID" in environ:
            return environ["HTTP_X_MOTO_ACCOUNT_ID"]
        import moto.iam.models as iam_models

        return iam_models.get_account_id_from(access_key)

    def _region(self, environ: dict[str, Any], scope: list[str]) -> str:
        # The order of moto's BaseResponse.get_region_from_url: the host, the user agent, the signature.
        host_match = self._region_regex.search(f"http://{environ.get('HTTP_HOST', '')}{environ.get('PATH_INFO', '')}")
        if host_match:
            return host_match.group(1)
        agent_match = self._region_from_useragent_regex.search(environ.get("HTTP_USER_AGENT", ""))
        if agent_match:
            return agent_match.group(1)
        return scope[2]


def _answer(start_response: Any, status: str, content_type: str, body: bytes, headers: dict[str, str]) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *headers.items(),
        ],
    )
    return [body]
