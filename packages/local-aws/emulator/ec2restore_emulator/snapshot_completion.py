"""How an EBS direct snapshot completes: CompleteSnapshot seals it at once (no block can be written any
more), and EC2 reports it `pending` for a while before `completed`.

"When you're done adding data to the pending snapshot, use the CompleteSnapshot action to start an
asynchronous workflow that seals the snapshot and moves it to a completed state"
(https://docs.aws.amazon.com/ebs/latest/userguide/writesnapshots.html); CompleteSnapshot answers
Status `pending` (https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html).
On AWS that workflow takes seconds to minutes, so code that builds on the snapshot must wait for
DescribeSnapshots to say `completed`.

`EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS` (300 unless set; 0: completed at once, as plain moto) is
how long the EC2 snapshot stays `pending` after the first CompleteSnapshot. A snapshot whose blocks do
not match (ChangedBlocksCount, checksum) is `error` at once. A repeated CompleteSnapshot changes nothing.

Snapshots EC2 makes stay `pending` for the same time (`finish_later`): CreateSnapshot and CreateSnapshots
("Snapshots occur asynchronously; the point-in-time snapshot is created immediately, but the status of
the snapshot is pending until the snapshot is complete",
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSnapshot.html) and CopySnapshot
("Encrypted Amazon EBS snapshots are copied asynchronously", the StateMessage field of
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Snapshot.html). Plain moto reports them
`completed` at once, so code that used one before DescribeSnapshots said `completed` went unseen.

Reads (ListSnapshotBlocks, ListChangedBlocks, GetSnapshotBlock) need the snapshot `completed`, as
DescribeSnapshots reports it: "Can a snapshot be accessed using the EBS direct APIs if it has a pending
status? No. The snapshot can be accessed only if it has a completed status."
(https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html). AWS documents the rule, not the
error: the API reference of GetSnapshotBlock, ListSnapshotBlocks and ListChangedBlocks lists error types
only (AccessDenied, InternalServer, RequestThrottled, ResourceNotFound, ServiceQuotaExceeded,
Validation, with no case for a snapshot's state), and none of the documented Reasons of
ValidationException or ResourceNotFoundException names a pending snapshot. So the emulator answers a
ValidationException (HTTP 400, "The input fails to satisfy the constraints of the EBS direct APIs",
listed for all three actions in
https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html#API_ListSnapshotBlocks_Errors)
with Reason INVALID_SNAPSHOT_ID (the documented reason that names the snapshot argument,
https://docs.aws.amazon.com/ebs/latest/APIReference/API_ValidationException.html) and a message of
its own naming the snapshot and its status.

The snapshots behind the public image catalogue moto loads into every new account are `completed` from
the start (`catalogue_loading`): those images are `available` ("The AMI is ready to be used",
State of https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html), long since made.
Giving each of them a `pending` window cost a timer thread per catalogue snapshot (~1,165 per account
and region).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import RestJsonError

DEFAULT_COMPLETING_MS = 300.0
_catalogue = threading.local()


@contextmanager
def catalogue_loading() -> Iterator[None]:
    """While this thread loads an account's public image catalogue, its snapshots are completed at once."""
    _catalogue.loading = True
    try:
        yield
    finally:
        _catalogue.loading = False


def completing_s() -> float:
    return max(0.0, float(os.environ.get("EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS", DEFAULT_COMPLETING_MS))) / 1000


def already_sealed(ebs_snapshot: Any) -> bool:
    """Whether CompleteSnapshot was called on this snapshot before."""
    return getattr(ebs_snapshot, "ec2restore_sealed", False)


def seal(ebs_snapshot: Any, status: str) -> None:
    """The first CompleteSnapshot: the EBS direct view takes `status` at once; the EC2 snapshot stays
    `pending` for `completing_s()` before it is `completed` (an `error` shows at once)."""
    ebs_snapshot.ec2restore_sealed = True
    ebs_snapshot.status = status
    ec2_snapshot = getattr(ebs_snapshot, "ec2_snapshot", None)
    if ec2_snapshot is not None:
        finish_later(ec2_snapshot, status, "seal")


def finish_later(ec2_snapshot: Any, status: str = "completed", kind: str = "pending") -> None:
    """The EC2 snapshot reports `pending` for `completing_s()`, then `status` (an `error` shows at once).
    `kind` names the delay for the test-only delays log: `seal` after CompleteSnapshot, `pending` for a
    snapshot EC2 makes (CreateSnapshot, CreateSnapshots, CopySnapshot)."""
    delay = completing_s()
    if status != "completed" or delay == 0 or getattr(_catalogue, "loading", False):
        ec2_snapshot.status = status
        return
    ec2_snapshot.status = "pending"

    def complete() -> None:
        if ec2_snapshot.status == "pending":
            ec2_snapshot.status = status

    timer = threading.Timer(delay, complete)
    timer.daemon = True
    timer.start()


def require_completed(ebs_snapshot: Any) -> None:
    """Refuses an EBS direct read of a snapshot EC2 does not report `completed` (see the module's text)."""
    ec2_snapshot = getattr(ebs_snapshot, "ec2_snapshot", None)
    status = getattr(ec2_snapshot, "status", None) or getattr(ebs_snapshot, "status", "completed")
    if status != "completed":
        raise RestJsonError(
            400,
            "ValidationException",
            f"The snapshot '{ebs_snapshot.snapshot_id}' is {status}: the EBS direct APIs read only completed snapshots.",
            "INVALID_SNAPSHOT_ID",
        )
