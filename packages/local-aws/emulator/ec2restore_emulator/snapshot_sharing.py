"""EC2 snapshots across accounts: who sees a snapshot (its owner, and the accounts it is shared with,
after a moment), who may delete or share it, and the AWS managed key that cannot be shared."""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError

from . import consistency
from .errors import Ec2Error
from .kms_rules import find_key, is_aws_managed
from .patching import replace_methods


class SnapshotNotFound(EC2ClientError):
    # AWS: "InvalidSnapshot.NotFound: The snapshot 'snap-0123456789abcdef0' does not exist."
    # (moto answers the code with an empty message).
    def __init__(self, snapshot_id: str):
        super().__init__("InvalidSnapshot.NotFound", f"The snapshot '{snapshot_id}' does not exist.")


class SnapshotNotOwned(Ec2Error):
    # Only the owner may delete a snapshot or change who can use it
    # (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html);
    # EC2's common error for an action the caller may not perform on a resource, HTTP 403
    # (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html). The exact
    # text AWS gives for another account's snapshot could not be checked here.
    def __init__(self) -> None:
        super().__init__(403, "UnauthorizedOperation", "You are not authorized to perform this operation.")


class DefaultKeyCannotBeShared(EC2ClientError):
    # "Snapshots encrypted with your default KMS key cannot be shared with other accounts."
    # (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySnapshotAttribute.html);
    # AWS answers HTTP 400 with this code and text.
    def __init__(self) -> None:
        super().__init__("OperationNotPermitted", "Encrypted snapshots with EBS default key cannot be shared")


# --- snapshots visible across accounts --------------------------------------------------------


# (snapshot id, account id or "all") -> monotonic time from which the share is visible there.
_share_visible_from: dict[tuple[str, str], float] = {}


def _share_visible(snapshot_id: str, grantee: str) -> bool:
    return time.monotonic() >= _share_visible_from.get((snapshot_id, grantee), 0.0)


def _is_shared_with(snapshot: Any, account_id: str) -> bool:
    if account_id in snapshot.create_volume_permission_userids and _share_visible(snapshot.id, account_id):
        return True
    return "all" in snapshot.create_volume_permission_groups and _share_visible(snapshot.id, "all")


# Snapshots some account shared (createVolumePermission not empty), by id: other accounts look here
# instead of scanning every account's snapshots (each moto account holds ~1,000 AMI snapshots).
_shared_snapshots: dict[str, Any] = {}
_shared_lock = threading.Lock()


def _update_share_index(snapshot: Any) -> None:
    with _shared_lock:
        if snapshot.create_volume_permission_userids or snapshot.create_volume_permission_groups:
            _shared_snapshots[snapshot.id] = snapshot
        else:
            _shared_snapshots.pop(snapshot.id, None)


def forget_account(account_id: str) -> None:
    """Drops the account's shared snapshots from the index, and shares with it (test_only.py)."""
    with _shared_lock:
        dropped = {i for i, s in _shared_snapshots.items() if s.ec2_backend.account_id == account_id}
        for snapshot_id in dropped:
            del _shared_snapshots[snapshot_id]
        for key in [k for k in list(_share_visible_from) if k[0] in dropped or k[1] == account_id]:
            del _share_visible_from[key]


def _shared_with(backend: Any) -> list[Any]:
    with _shared_lock:
        candidates = list(_shared_snapshots.values())
    return [
        s
        for s in candidates
        if s.owner_id != backend.account_id
        and s.ec2_backend.region_name == backend.region_name
        and _is_shared_with(s, backend.account_id)
    ]


def visible_snapshots(backend: Any) -> list[Any]:
    """The account's own snapshots plus those other accounts shared with it in this region
    ("The snapshots available to you include public snapshots, private snapshots that you own, and
    private snapshots owned by other Amazon Web Services accounts for which you have explicit create
    volume permissions", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshots.html)."""
    return list(backend.snapshots.values()) + _shared_with(backend)


def install_snapshot_visibility() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.utils import generic_filter

    def get_snapshot(self: Any, snapshot_id: str) -> Any:
        snapshot = self.snapshots.get(snapshot_id)
        if snapshot is not None:
            return snapshot
        for snapshot in _shared_with(self):
            if snapshot.id == snapshot_id:
                return snapshot
        raise SnapshotNotFound(snapshot_id)

    def describe_snapshots(self: Any, snapshot_ids: list[str] | None = None, filters: Any = None) -> list[Any]:
        matches = visible_snapshots(self)
        if snapshot_ids:
            by_id = {s.id: s for s in matches}
            missing = [i for i in snapshot_ids if i not in by_id]
            if missing:
                raise SnapshotNotFound(missing[0])
            matches = [by_id[i] for i in snapshot_ids]
        if filters:
            if any(name.startswith("tag") for name in filters):
                # A tag filter (`tag:<key>`, `tag-key`, `tag-value`) matches only a snapshot with tags:
                # keep those before moto's filter, which looks each snapshot's tags up by scanning all
                # of them (~100 ms over the ~1,000 untagged AMI snapshots moto holds per account).
                # The same answer, sooner.
                matches = [s for s in matches if s.ec2_backend.tags.get(s.id)]
            matches = generic_filter(filters, matches)
        return matches

    def owned_snapshot(self: Any, snapshot_id: str) -> Any:
        snapshot = get_snapshot(self, snapshot_id)
        if snapshot.owner_id != self.account_id:
            raise SnapshotNotOwned()
        return snapshot

    original_delete = EBSBackend.delete_snapshot

    def delete_snapshot(self: Any, snapshot_id: str) -> Any:
        owned_snapshot(self, snapshot_id)
        deleted = original_delete(self, snapshot_id)
        with _shared_lock:
            _shared_snapshots.pop(snapshot_id, None)
        return deleted

    original_add_permission = EBSBackend.add_create_volume_permission
    original_remove_permission = EBSBackend.remove_create_volume_permission

    def add_create_volume_permission(
        self: Any, snapshot_id: str, user_ids: list[str] | None = None, groups: list[str] | None = None
    ) -> None:
        snapshot = self.get_snapshot(snapshot_id)
        delay = consistency.delay_s()
        for grantee in list(user_ids or []) + list(groups or []):
            already = grantee in snapshot.create_volume_permission_userids | snapshot.create_volume_permission_groups
            if delay > 0 and not already:
                _share_visible_from[(snapshot_id, grantee)] = time.monotonic() + delay
        original_add_permission(self, snapshot_id, user_ids=user_ids or [], groups=groups or [])
        _update_share_index(self.get_snapshot(snapshot_id))

    def remove_create_volume_permission(self: Any, snapshot_id: str, *args: Any, **kwargs: Any) -> None:
        original_remove_permission(self, snapshot_id, *args, **kwargs)
        _update_share_index(self.get_snapshot(snapshot_id))

    def get_create_volume_permission_groups(self: Any, snapshot_id: str) -> set[str]:
        return owned_snapshot(self, snapshot_id).create_volume_permission_groups

    def get_create_volume_permission_userids(self: Any, snapshot_id: str) -> set[str]:
        return owned_snapshot(self, snapshot_id).create_volume_permission_userids

    replace_methods(
        EBSBackend,
        get_snapshot,
        describe_snapshots,
        owned_snapshot,
        delete_snapshot,
        add_create_volume_permission,
        remove_create_volume_permission,
        get_create_volume_permission_groups,
        get_create_volume_permission_userids,
    )

    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    def describe_snapshots_response(self: Any) -> ActionResult:
        """OwnerIds and RestorableByUserIds narrow the result (moto ignores both)."""
        snapshots = self.ec2_backend.describe_snapshots(
            snapshot_ids=self._get_param("SnapshotIds", []), filters=self._filters_from_querystring()
        )
        me = self.current_account
        owners = {me if o == "self" else o for o in self._get_param("OwnerIds", []) or []}
        if owners:
            snapshots = [s for s in snapshots if s.owner_id in owners]
        restorable_by = {me if u == "self" else u for u in self._get_param("RestorableByUserIds", []) or []}
        if restorable_by:
            snapshots = [
                s
                for s in snapshots
                if any(u == s.owner_id or _is_shared_with(s, u) for u in restorable_by)
            ]
        return ActionResult({"Snapshots": snapshots})

    def modify_snapshot_attribute(self: Any) -> EmptyResult:
        """Accepts both request forms: OperationType + UserId.N/UserGroup.N, and
        CreateVolumePermission.Add/Remove (what the SDKs send; moto reads only the former)."""
        snapshot_id = self._get_param("SnapshotId")
        self.error_on_dryrun()
        snapshot = self.ec2_backend.owned_snapshot(snapshot_id)
        changes: dict[str, tuple[list[str], list[str]]] = {"add": ([], []), "remove": ([], [])}
        operation = self._get_param("OperationType")
        if operation in changes:
            changes[operation][0].extend(self._get_param("UserIds", []) or [])
            changes[operation][1].extend(self._get_param("GroupNames", []) or [])
        permission = self._get_param("CreateVolumePermission", {}) or {}
        for field, op in (("Add", "add"), ("Remove", "remove")):
            for entry in permission.get(field, []) or []:
                if entry.get("UserId"):
                    changes[op][0].append(entry["UserId"])
                if entry.get("Group"):
                    changes[op][1].append(entry["Group"])
        add_users, add_groups = changes["add"]
        if (add_users or add_groups) and snapshot.encrypted:
            key = find_key(snapshot.kms_key_id, snapshot.owner_id, self.region)
            if key is not None and is_aws_managed(key):
                raise DefaultKeyCannotBeShared()
        if add_users or add_groups:
            self.ec2_backend.add_create_volume_permission(snapshot_id, user_ids=add_users, groups=add_groups)
        remove_users, remove_groups = changes["remove"]
        if remove_users or remove_groups:
            self.ec2_backend.remove_create_volume_permission(
                snapshot_id, user_ids=remove_users, groups=remove_groups
            )
        return EmptyResult()

    replace_methods(
        ElasticBlockStore, modify_snapshot_attribute, describe_snapshots=describe_snapshots_response
    )
