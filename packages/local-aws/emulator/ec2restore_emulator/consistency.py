"""Eventual consistency: a new resource id, a new grant and a new snapshot share take a moment.

"Amazon EC2 API follows an eventual consistency model ... the results of an API command you run
might not be immediately visible to all subsequent commands you run": a new instance, volume,
snapshot or image id may answer `Invalid*.NotFound` right after the call that made it
(https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). A new KMS grant "can
take up to five minutes" to be usable everywhere unless the request passes its grant token
(https://docs.aws.amazon.com/kms/latest/developerguide/grant-tokens.html,
https://docs.aws.amazon.com/kms/latest/developerguide/grants.html#terms-eventual-consistency).
A snapshot shared with an account shows up there after a moment as well.

Window: `EC2RESTORE_EMULATOR_CONSISTENCY_MS` is the longest delay in milliseconds, 400 unless set;
each new id, grant or share gets a random delay between half of it and all of it (0: everything at
once, as plain moto). On by default so that code which reads a new id at once fails here first; short,
so that code which waits for a new id (as it must on AWS) costs a test run little. Plain moto answers
every id at once.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from typing import Any

from .errors import Ec2Error

DEFAULT_WINDOW_MS = 400.0


def window_s() -> float:
    return max(0.0, float(os.environ.get("EC2RESTORE_EMULATOR_CONSISTENCY_MS", DEFAULT_WINDOW_MS))) / 1000


def delay_s() -> float:
    longest = window_s()
    return random.uniform(longest / 2, longest) if longest > 0 else 0.0


# id -> monotonic time from which it is visible
_visible_from: dict[str, float] = {}
_lock = threading.Lock()

_NEW_ID = {
    "CreateVolume": "vol",
    "RunInstances": "i",
    "CreateSnapshot": "snap",
    "CopySnapshot": "snap",
    "RegisterImage": "ami",
    "CreateImage": "ami",
    "CopyImage": "ami",
}
_ID = re.compile(r"^(vol|i|snap|ami)-[0-9a-f]{8,17}$")


def _not_found(resource_id: str) -> Ec2Error:
    # AWS's codes and texts for an id it does not know (yet).
    kind = resource_id.split("-", 1)[0]
    if kind == "vol":
        return Ec2Error(400, "InvalidVolume.NotFound", f"The volume '{resource_id}' does not exist.")
    if kind == "i":
        return Ec2Error(400, "InvalidInstanceID.NotFound", f"The instance ID '{resource_id}' does not exist")
    if kind == "snap":
        return Ec2Error(400, "InvalidSnapshot.NotFound", f"The snapshot '{resource_id}' does not exist.")
    return Ec2Error(400, "InvalidAMIID.NotFound", f"The image id '[{resource_id}]' does not exist")


def remember_new(resource_id: str) -> None:
    delay = delay_s()
    if delay <= 0:
        return
    with _lock:
        _visible_from[resource_id] = time.monotonic() + delay


def not_yet_visible(resource_id: str) -> bool:
    with _lock:
        since = _visible_from.get(resource_id)
        if since is None:
            return False
        if time.monotonic() >= since:
            del _visible_from[resource_id]
            return False
        return True


def forget_expired() -> None:
    """Drops the ids already visible that were never asked for again (test_only.py)."""
    now = time.monotonic()
    with _lock:
        for resource_id in [i for i, since in _visible_from.items() if now >= since]:
            del _visible_from[resource_id]


def _ids_in_request(querystring: dict[str, list[str]]) -> list[str]:
    ids = []
    for key, values in querystring.items():
        if key.startswith("Filter.") or key == "Action":
            continue
        ids.extend(v for v in values if isinstance(v, str) and _ID.match(v))
    return ids


def _new_ids_in_response(action: str, body: Any) -> list[str]:
    prefix = _NEW_ID.get(action)
    if prefix is None:
        return []
    text = body.decode() if isinstance(body, bytes) else str(body)
    return sorted(set(re.findall(rf"\b{prefix}-[0-9a-f]{{8,17}}\b", text)))


def install() -> None:
    from moto.core.responses import BaseResponse

    from . import kms_rules

    original_call_action = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        if getattr(self, "service_name", None) != "ec2" or window_s() <= 0:
            return original_call_action(self)
        action = self._get_action()
        for resource_id in _ids_in_request(self.querystring):
            if not_yet_visible(resource_id):
                error = _not_found(resource_id)
                return error.code, dict(error.get_headers()), error.get_body()
        status, headers, body = original_call_action(self)
        if status == 200:
            for resource_id in _new_ids_in_response(action, body):
                remember_new(resource_id)
        return status, headers, body

    BaseResponse.call_action = call_action

    def grant_is_effective(grant: Any, grant_tokens: list[str] | None) -> bool:
        """A grant works at once for a request that passes its grant token, else after a moment."""
        if grant_tokens and grant.token in grant_tokens:
            return True
        return time.monotonic() >= getattr(grant, "ec2restore_effective_at", 0)

    kms_rules.grant_is_effective = grant_is_effective

    from moto.kms.models import Key

    original_add_grant = Key.add_grant

    def add_grant(self: Any, *args: Any, **kwargs: Any) -> Any:
        grant = original_add_grant(self, *args, **kwargs)
        grant.ec2restore_effective_at = time.monotonic() + delay_s()
        return grant

    Key.add_grant = add_grant
