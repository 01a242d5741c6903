"""EBS direct request limits: PutSnapshotBlock rate per snapshot, requests in flight per account.

AWS throttles the EBS direct APIs: "RequestThrottledException: The number of API requests has
exceeded the maximum allowed API request throttling limit for the snapshot" (Reason
RESOURCE_LEVEL_THROTTLE), and "ConcurrentLimitExceededException: You have reached the limit for
concurrent API requests" (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors,
https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-performance.html: "build retry mechanisms
into your EBS direct APIs workflows to handle throttling"). Plain moto never throttles.

- `EC2RESTORE_EMULATOR_EBS_PUT_RATE` (default 1000): PutSnapshotBlock requests per second per
  snapshot, AWS's quota for PutSnapshotBlock per snapshot (Amazon EBS endpoints and quotas,
  https://docs.aws.amazon.com/general/latest/gr/ebs-service.html). 0: no limit.
- `EC2RESTORE_EMULATOR_EBS_MAX_IN_FLIGHT` (default 0, no limit): EBS direct block requests of one
  account being served at once. AWS does not publish this figure; tests set a low one.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from .errors import RestJsonError

_lock = threading.Lock()
_recent_puts: dict[str, collections.deque[float]] = {}
_in_flight: dict[str, int] = collections.defaultdict(int)


def _put_rate() -> int:
    return int(os.environ.get("EC2RESTORE_EMULATOR_EBS_PUT_RATE", "1000"))


def _max_in_flight() -> int:
    return int(os.environ.get("EC2RESTORE_EMULATOR_EBS_MAX_IN_FLIGHT", "0"))


def throttled() -> RestJsonError:
    return RestJsonError(
        400,
        "RequestThrottledException",
        "The number of API requests has exceeded the maximum allowed API request throttling limit for the snapshot.",
        "RESOURCE_LEVEL_THROTTLE",
    )


def admit_put(snapshot_id: str) -> None:
    """Counts one PutSnapshotBlock against the snapshot's rate (a sliding one-second window)."""
    rate = _put_rate()
    if rate <= 0:
        return
    now = time.monotonic()
    with _lock:
        recent = _recent_puts.setdefault(snapshot_id, collections.deque())
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= rate:
            raise throttled()
        recent.append(now)


def forget(snapshot_id: str) -> None:
    with _lock:
        _recent_puts.pop(snapshot_id, None)


def forget_account(account_id: str) -> None:
    """Drops the account's in-flight counter once nothing is in flight (test_only.py)."""
    with _lock:
        if _in_flight.get(account_id) == 0:
            del _in_flight[account_id]


# Set while this thread's request is already counted (the fast path counts a write from before its body
# is read, as AWS counts a request from its start; put_block inside it must not count it twice).
_counted = threading.local()


@contextmanager
def in_flight(account_id: str) -> Iterator[None]:
    """One EBS direct block request of `account_id` being served."""
    limit = _max_in_flight()
    if limit <= 0 or getattr(_counted, "active", False):
        yield
        return
    with _lock:
        if _in_flight[account_id] >= limit:
            raise RestJsonError(
                400, "ConcurrentLimitExceededException", "You have reached the limit for concurrent API requests."
            )
        _in_flight[account_id] += 1
    _counted.active = True
    try:
        yield
    finally:
        _counted.active = False
        with _lock:
            _in_flight[account_id] -= 1


def guarded(snapshot: Any, is_put: bool) -> Any:
    """The context a block request of `snapshot` runs in (in-flight count; rate for writes)."""
    if is_put:
        admit_put(snapshot.snapshot_id)
    return in_flight(getattr(snapshot, "account_id", ""))
