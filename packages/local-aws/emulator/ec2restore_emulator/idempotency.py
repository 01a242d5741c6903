"""ClientToken idempotency for the calls ec2-restore retries: EC2 RunInstances and CreateVolume, and
EBS direct StartSnapshot. (CopySnapshot has no ClientToken in the EC2 API: nothing to emulate.)

"If you repeat a request with the same client token and the same parameters, Amazon EC2 returns
the same result ... If you repeat a request with the same client token, but change one or more of
the parameters (other than the client token), Amazon EC2 returns an IdempotentParameterMismatch
error" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html). The token is
scoped to the account and region.

StartSnapshot likewise: "If you retry an API request with the same client token and the same request
parameters after it has completed successfully, the result of the original request is returned. If you
retry a request with the same client token, but change one or more of the request parameters, the
ConflictException error is returned" (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-direct-api-idempotency.html;
HTTP 409, https://docs.aws.amazon.com/ebs/latest/userguide/error-retries.html).

Plain moto 5.2.1 ignores ClientToken: every retry makes one more volume, instance or snapshot.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from .errors import Ec2Error, RestJsonError

IDEMPOTENT_ACTIONS = {"RunInstances", "CreateVolume"}
# Parameters that do not count when comparing a repeated request (the SDK may vary them per call).
_IGNORED = {"ClientToken", "DryRun", "Version"}

# (account, region, action, token) -> (request fingerprint, response)
_seen: dict[tuple[str, str, str, str], tuple[tuple[Any, ...], tuple[int, dict[str, str], Any]]] = {}
_lock = threading.Lock()


class IdempotentParameterMismatch(Ec2Error):
    # EC2 common client error, HTTP 400
    # (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
    def __init__(self) -> None:
        super().__init__(
            400,
            "IdempotentParameterMismatch",
            "The request uses the same client token as a previous, but non-identical request. Do not reuse a "
            "client token with different requests, unless the requests are identical.",
        )


def _fingerprint(querystring: dict[str, list[str]]) -> tuple[Any, ...]:
    return tuple(sorted((k, tuple(v)) for k, v in querystring.items() if k not in _IGNORED))


def install() -> None:
    from moto.core.responses import BaseResponse

    original_call_action = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        if getattr(self, "service_name", None) != "ec2":
            return original_call_action(self)
        action = self._get_action()
        token = (self.querystring.get("ClientToken") or [""])[0]
        if action not in IDEMPOTENT_ACTIONS or not token:
            return original_call_action(self)
        key = (self.current_account, self.region, action, token)
        fingerprint = _fingerprint(self.querystring)
        # One request per key at a time, so two concurrent retries make one resource.
        with _lock:
            seen = _seen.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    error = IdempotentParameterMismatch()
                    return error.code, dict(error.get_headers()), error.get_body()
                status, headers, body = seen[1]
                return status, dict(headers), body
            status, headers, body = original_call_action(self)
            if status == 200:
                _seen[key] = (fingerprint, (status, dict(headers), body))
            return status, headers, body

    BaseResponse.call_action = call_action


# (account, region, token) -> (StartSnapshot parameters but the token, response body)
_started: dict[tuple[str, str, str], tuple[str, str]] = {}


def start_snapshot_once(account: str, region: str, params: dict[str, Any], start: Callable[[], str]) -> str:
    """Runs `start` (StartSnapshot) once per ClientToken; a repeat answers the original result."""
    token = params.get("ClientToken")
    if not token:
        return start()
    key = (account, region, str(token))
    fingerprint = json.dumps({k: v for k, v in params.items() if k != "ClientToken"}, sort_keys=True)
    with _lock:
        seen = _started.get(key)
        if seen is not None:
            if seen[0] != fingerprint:
                raise RestJsonError(
                    409,
                    "ConflictException",
                    "The request uses the same client token as a previous, but non-identical request.",
                )
            return seen[1]
        body = start()
        _started[key] = (fingerprint, body)
        return body


def forget_account(account_id: str) -> None:
    """Drops the answers remembered for the account (test_only.py)."""
    with _lock:
        for table in (_seen, _started):
            for key in [k for k in table if k[0] == account_id]:
                del table[key]
