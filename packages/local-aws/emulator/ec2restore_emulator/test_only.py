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

`GET /ec2restore-test-only/delays?sinceMs=<epoch ms>` lists the delays the emulator modelled on AWS's
behalf since then (record_delays below): each new id's eventual-consistency window, each share's, each
snapshot's seal after CompleteSnapshot, each `pending` time of a snapshot EC2 made (CreateSnapshot,
CopySnapshot), and whether a request was answered as if it still ran. A
benchmark reads it to tell the time AWS would have taken from the product's own. The log keeps the
last few thousand delays only.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

from . import consistency, ebs_limits, idempotency, snapshot_completion, snapshot_sharing

FORGET_ACCOUNTS_PATH = "/ec2restore-test-only/forget-accounts"
DELAYS_PATH = "/ec2restore-test-only/delays"
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


# --- the delays the emulator modelled (GET /ec2restore-test-only/delays) -----------------------

_MAX_DELAYS = 4096
# (kind, resource id, grantee or "") -> {kind, id, grantee, fromMs, untilMs, waited}
_delays: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
_delays_lock = threading.Lock()
_recording = False


def _note_delay(kind: str, resource_id: str, grantee: str, visible_from_monotonic: float) -> None:
    seconds = visible_from_monotonic - time.monotonic()
    if seconds <= 0:
        return
    now_ms = time.time() * 1000
    key = (kind, resource_id, grantee)
    entry = {"kind": kind, "id": resource_id, "grantee": grantee, "fromMs": now_ms, "untilMs": now_ms + seconds * 1000}
    with _delays_lock:
        _delays.pop(key, None)
        _delays[key] = {**entry, "waited": False}
        while len(_delays) > _MAX_DELAYS:
            _delays.popitem(last=False)


def _note_waited(kind: str, resource_id: str, grantee: str = "") -> None:
    now_ms = time.time() * 1000
    with _delays_lock:
        entry = _delays.get((kind, resource_id, grantee))
        if entry is not None and entry["fromMs"] <= now_ms < entry["untilMs"]:
            entry["waited"] = True


def delays_since(since_ms: float) -> list[dict[str, Any]]:
    with _delays_lock:
        return [dict(entry) for entry in _delays.values() if entry["fromMs"] >= since_ms]


def record_delays() -> None:
    """Wraps the emulator's delays (consistency.py, snapshot_sharing.py, snapshot_completion.py) to log
    each one and whether a request met it; their answers are unchanged."""
    global _recording
    if _recording:
        return
    _recording = True
    from moto.ec2.models.elastic_block_store import EBSBackend

    remember_new, not_yet_visible = consistency.remember_new, consistency.not_yet_visible

    def logged_remember_new(resource_id: str) -> None:
        remember_new(resource_id)
        with consistency._lock:
            visible_from = consistency._visible_from.get(resource_id)
        if visible_from is not None:
            _note_delay("new-id", resource_id, "", visible_from)

    def logged_not_yet_visible(resource_id: str) -> bool:
        hidden = not_yet_visible(resource_id)
        if hidden:
            _note_waited("new-id", resource_id)
        return hidden

    consistency.remember_new = logged_remember_new
    consistency.not_yet_visible = logged_not_yet_visible

    share_visible = snapshot_sharing._share_visible

    def logged_share_visible(snapshot_id: str, grantee: str) -> bool:
        visible = share_visible(snapshot_id, grantee)
        if not visible:
            _note_waited("share", snapshot_id, grantee)
        return visible

    snapshot_sharing._share_visible = logged_share_visible
    add_permission = EBSBackend.add_create_volume_permission

    def logged_add_permission(self: Any, snapshot_id: str, user_ids: Any = None, groups: Any = None) -> None:
        snapshot = self.get_snapshot(snapshot_id)
        # Adding a grantee again starts no new window (snapshot_sharing): its delay stays as first noted.
        already = set(snapshot.create_volume_permission_userids) | set(snapshot.create_volume_permission_groups)
        add_permission(self, snapshot_id, user_ids=user_ids, groups=groups)
        for grantee in list(user_ids or []) + list(groups or []):
            if grantee in already:
                continue
            visible_from = snapshot_sharing._share_visible_from.get((snapshot_id, grantee))
            if visible_from is not None:
                _note_delay("share", snapshot_id, grantee, visible_from)

    EBSBackend.add_create_volume_permission = logged_add_permission
    finish_later = snapshot_completion.finish_later

    def logged_finish_later(ec2_snapshot: Any, status: str = "completed", kind: str = "pending") -> None:
        finish_later(ec2_snapshot, status, kind)
        if ec2_snapshot.status == "pending":
            _note_delay(kind, ec2_snapshot.id, "", time.monotonic() + snapshot_completion.completing_s())

    snapshot_completion.finish_later = logged_finish_later
    describe_snapshots = EBSBackend.describe_snapshots

    def logged_describe_snapshots(self: Any, snapshot_ids: Any = None, filters: Any = None) -> list[Any]:
        found = describe_snapshots(self, snapshot_ids=snapshot_ids, filters=filters)
        for snapshot in found if snapshot_ids else []:
            if snapshot.status == "pending":
                _note_waited("seal", snapshot.id)
                _note_waited("pending", snapshot.id)
        return found

    EBSBackend.describe_snapshots = logged_describe_snapshots


class TestOnlyRoutes:
    """WSGI middleware: the test-only path here, every other request to `app`."""

    def __init__(self, app: Any):
        self.app = app
        record_delays()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO")
        if path == DELAYS_PATH:
            return _list_delays(environ, start_response)
        if path != FORGET_ACCOUNTS_PATH:
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


def _list_delays(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ.get("REQUEST_METHOD") != "GET":
        return _answer(start_response, "405 Method Not Allowed", {"message": f"GET {DELAYS_PATH}"})
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        since_ms = float(query.get("sinceMs", ["0"])[0])
    except ValueError:
        return _answer(start_response, "400 Bad Request", {"message": "sinceMs must be epoch milliseconds"})
    return _answer(start_response, "200 OK", {"delays": delays_since(since_ms)})


def _answer(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
