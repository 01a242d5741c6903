"""Test-harness only, not AWS: forgetting the accounts a test file used, so the emulator's memory does
not grow with the number of tests.

Every integration test works in fresh random accounts, and moto builds each account's backends on
first use and keeps them for the life of the process: one EC2 region backend alone holds moto's
catalogue of ~1,000 public images with a snapshot each (about 6.5 MiB), so one CI run (about 150
accounts) kept more than 1 GiB.

`POST /ec2restore-test-only/forget-accounts` with `{"accountIds": ["123456789012", ...]}` drops those
accounts from every moto service and from the emulator's own per-account state, and frees their EBS
direct blocks; moto_memory.py makes sure nothing else keeps their objects alive. The test setup calls
it after each test file for the accounts the file made (test/setup-env.ts). An account used again
afterwards starts empty, like a new account.

AWS has no such operation (an account is closed with Organizations' CloseAccount, which takes 90 days);
the path says it is the emulator's test-only API.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from . import consistency, ebs_limits, idempotency, snapshot_sharing

FORGET_ACCOUNTS_PATH = "/ec2restore-test-only/forget-accounts"
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def _backend_dicts() -> list[Any]:
    """Every moto service's BackendDict that holds an account (moto appends one entry per new account)."""
    from moto.core.base_backend import BackendDict

    unique = list({id(d): d for d in BackendDict._instances}.values())
    BackendDict._instances[:] = unique
    return unique


def _release_ebs_direct_blocks(account_id: str) -> int:
    from moto.ebs.models import ebs_backends

    from .ebs_direct import release_snapshot_blocks

    regions = dict.get(ebs_backends, account_id)
    released = 0
    for region, backend in list(dict.items(regions or {})):
        for snapshot_id in list(backend.snapshots):
            release_snapshot_blocks(account_id, region, snapshot_id)
            released += 1
    return released


def _dispose_s3_objects(account_id: str) -> None:
    """moto keeps S3 object bytes in temporary files, closed by dispose(); bucket names are global."""
    from moto.s3.models import s3_backends

    for backend in list(dict.values(dict.get(s3_backends, account_id) or {})):
        for bucket in list(backend.buckets.values()):
            for stored in [*bucket.keys.values(), *bucket.multiparts.values()]:
                dispose = getattr(stored, "dispose", None)
                if dispose is not None:
                    dispose()
            s3_backends.bucket_accounts.pop(bucket.name, None)


def forget_account(account_id: str) -> dict[str, int]:
    """Drops everything the emulator holds for `account_id`; returns what was dropped."""
    snapshots = _release_ebs_direct_blocks(account_id)
    if "moto.s3.models" in sys.modules:
        _dispose_s3_objects(account_id)
    services = 0
    for backends in _backend_dicts():
        if dict.pop(backends, account_id, None) is not None:
            services += 1
    idempotency.forget_account(account_id)
    snapshot_sharing.forget_account(account_id)
    ebs_limits.forget_account(account_id)
    consistency.forget_expired()
    return {"services": services, "ebsDirectSnapshots": snapshots}


class TestOnlyRoutes:
    """WSGI middleware: the test-only path here, every other request to `app`."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != FORGET_ACCOUNTS_PATH:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", {"message": f"POST {FORGET_ACCOUNTS_PATH}"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            ids = json.loads(environ["wsgi.input"].read(length) or b"{}").get("accountIds")
        except (ValueError, AttributeError):
            ids = None
        if not isinstance(ids, list) or not all(isinstance(i, str) and _ACCOUNT_ID.match(i) for i in ids):
            message = 'the body must be {"accountIds": [12-digit account ids]}'
            return _answer(start_response, "400 Bad Request", {"message": message})
        forgotten = {account_id: forget_account(account_id) for account_id in ids}
        return _answer(start_response, "200 OK", {"forgotten": forgotten})


def _answer(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
