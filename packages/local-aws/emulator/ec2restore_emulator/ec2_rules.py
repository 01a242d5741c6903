"""EC2/EBS: default encryption key, KmsKeyId on volumes and snapshots, snapshot sharing across
accounts, and the asynchronous failure of a volume whose KMS key is unusable."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError

from .errors import Ec2Error
from .identity import Principal, current_caller
from .kms_rules import find_key, is_aws_managed, key_is_usable, may_use_key

# How long a volume whose key is unusable stays `creating` before it disappears (AWS: seconds).
KMS_FAILURE_DELAY_S = float(os.environ.get("EC2RESTORE_EMULATOR_KMS_FAILURE_DELAY_MS", "1500")) / 1000
# How long a healthy new volume stays `creating` before it is `available` ("The volume state must be
# available before you can attach it", https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-volume.html).
VOLUME_CREATING_S = float(os.environ.get("EC2RESTORE_EMULATOR_VOLUME_CREATING_MS", "1000")) / 1000


_copy_encrypted: contextvars.ContextVar[bool] = contextvars.ContextVar("copy_encrypted", default=False)


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


def _ec2_via_service(region: str) -> str:
    # EBS calls KMS on the caller's behalf, so key policy conditions see kms:ViaService
    # ec2.<region>.amazonaws.com (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service).
    return f"ec2.{region}.amazonaws.com"


# --- default key (GetEbsDefaultKmsKeyId / ResetEbsDefaultKmsKeyId) -----------------------------


def default_key_arn(backend: Any) -> str:
    """The region's EBS default key: the AWS managed key alias/aws/ebs (created on first need)
    unless ModifyEbsDefaultKmsKeyId chose another
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetEbsDefaultKmsKeyId.html)."""
    if not backend.default_kms_key_id:
        backend._create_default_encryption_key()
    return backend.default_kms_key_id


def install_default_key_api() -> None:
    from moto.ec2.responses import EC2Response

    def get_ebs_default_kms_key_id(self: Any) -> ActionResult:
        return ActionResult({"KmsKeyId": default_key_arn(self.ec2_backend)})

    def reset_ebs_default_kms_key_id(self: Any) -> ActionResult:
        # "Resets the default KMS key for EBS encryption ... to the AWS managed KMS key for EBS."
        self.error_on_dryrun()
        self.ec2_backend.default_kms_key_id = ""
        return ActionResult({"KmsKeyId": default_key_arn(self.ec2_backend)})

    EC2Response.get_ebs_default_kms_key_id = get_ebs_default_kms_key_id
    EC2Response.reset_ebs_default_kms_key_id = reset_ebs_default_kms_key_id


# --- snapshots visible across accounts --------------------------------------------------------


def share_delay_s() -> float:
    """How long a new share takes to show in the other account (consistency.install sets it)."""
    return 0.0


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
        delay = share_delay_s()
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

    EBSBackend.get_snapshot = get_snapshot
    EBSBackend.describe_snapshots = describe_snapshots
    EBSBackend.owned_snapshot = owned_snapshot
    EBSBackend.delete_snapshot = delete_snapshot
    EBSBackend.add_create_volume_permission = add_create_volume_permission
    EBSBackend.remove_create_volume_permission = remove_create_volume_permission
    EBSBackend.get_create_volume_permission_groups = get_create_volume_permission_groups
    EBSBackend.get_create_volume_permission_userids = get_create_volume_permission_userids

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

    ElasticBlockStore.describe_snapshots = describe_snapshots_response
    ElasticBlockStore.modify_snapshot_attribute = modify_snapshot_attribute


# --- volumes: encryption by default, key ARNs, unusable keys ----------------------------------

# What EBS asks KMS for, on the caller's behalf, to create an encrypted volume
# (https://docs.aws.amazon.com/ebs/latest/userguide/how-ebs-encryption-works.html).
VOLUME_KEY_ACTIONS = ("kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt")
# ... and on the key of the encrypted snapshot a volume or copy is made from.
SNAPSHOT_KEY_ACTIONS = ("kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom")


def key_problem(
    caller: Principal, key_id: str | None, caller_account: str, region: str, actions: tuple[str, ...]
) -> str | None:
    """Why EBS could not use `key_id` for `caller` (None when it can)."""
    key = find_key(key_id, caller_account, region)
    if key is None:
        return f"KMS key {key_id} not found"
    if not key_is_usable(key):
        return f"KMS key {key.arn} is {key.key_state}"
    for action in actions:
        allowed, _, _ = may_use_key(
            caller,
            key,
            action,
            via_service=_ec2_via_service(region),
            grant_for_aws_resource=True if action == "kms:CreateGrant" else None,
        )
        if not allowed:
            return f"{caller.arn} may not {action} on {key.arn}"
    return None


def fail_volume_later(backend: Any, volume: Any, reason: str) -> None:
    """AWS accepts CreateVolume and checks the key asynchronously: "Amazon EBS authenticates the KMS
    key asynchronously. Therefore, if you specify an ID, alias, or ARN that is not valid, the action
    can appear to complete, but eventually fails."
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html). The volume stays
    `creating`, then is gone (DescribeVolumes: InvalidVolume.NotFound)."""
    volume.ec2restore_failure = reason

    def remove() -> None:
        backend.volumes.pop(volume.id, None)

    timer = threading.Timer(KMS_FAILURE_DELAY_S, remove)
    timer.daemon = True
    timer.start()


def install_volume_rules() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend, Volume

    original_status = Volume.status

    def status(self: Any) -> str:
        if getattr(self, "ec2restore_failure", None):
            return "creating"
        if time.monotonic() < getattr(self, "ec2restore_available_at", 0):
            return "creating"
        return original_status.fget(self)

    Volume.status = property(status)

    original_create_volume = EBSBackend.create_volume

    def create_volume(
        self: Any,
        size: int,
        zone_name: str,
        snapshot_id: str | None = None,
        encrypted: bool = False,
        kms_key_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        caller = current_caller()
        snapshot = self.get_snapshot(snapshot_id) if snapshot_id else None
        # "If you've enabled encryption by default, the volume is encrypted" and a volume from an
        # encrypted snapshot is encrypted
        # (https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html).
        by_default = getattr(self, "ebs_encryption_by_default", False)  # unset while moto builds the backend
        encrypted = bool(encrypted or by_default or (snapshot is not None and snapshot.encrypted))
        if kms_key_id and not encrypted:
            return original_create_volume(self, size, zone_name, snapshot_id, encrypted, kms_key_id, **kwargs)
        if encrypted and not kms_key_id:
            # Without KmsKeyId: the key of the account's own snapshot; for a new volume, or one from
            # a snapshot shared by another account, the region's EBS default key (the encryption
            # outcomes table of https://docs.aws.amazon.com/ebs/latest/userguide/encryption-by-default.html).
            own_snapshot = snapshot is not None and snapshot.owner_id == self.account_id
            kms_key_id = snapshot.kms_key_id if own_snapshot and snapshot.kms_key_id else default_key_arn(self)
        # KmsKeyId is always reported as the key ARN, whatever form was given.
        resolved = find_key(kms_key_id, self.account_id, self.region_name) if kms_key_id else None
        volume = original_create_volume(
            self, size, zone_name, snapshot_id, encrypted, resolved.arn if resolved else kms_key_id, **kwargs
        )
        problems = []
        if encrypted:
            problems.append(key_problem(caller, kms_key_id, self.account_id, self.region_name, VOLUME_KEY_ACTIONS))
        if snapshot is not None and snapshot.encrypted and snapshot.kms_key_id != (resolved.arn if resolved else None):
            problems.append(
                key_problem(caller, snapshot.kms_key_id, self.account_id, self.region_name, SNAPSHOT_KEY_ACTIONS)
            )
        reason = next((p for p in problems if p), None)
        if reason:
            fail_volume_later(self, volume, reason)
        else:
            volume.ec2restore_available_at = time.monotonic() + VOLUME_CREATING_S
        return volume

    EBSBackend.create_volume = create_volume

    from moto.ec2.responses.elastic_block_store import ElasticBlockStore as _Responses

    original_attach_response = _Responses.attach_volume

    def attach_volume_response(self: Any) -> Any:
        """A volume attaches only when `available`: "The volume state must be available before you
        can attach it" (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-attaching-volume.html);
        AWS answers HTTP 400 `IncorrectState` "vol-… is not 'available'." (moto attaches at once).
        Checked on the API call only: moto attaches a launch's root volumes itself."""
        volume_id = self._get_param("VolumeId")
        volume = self.ec2_backend.get_volume(volume_id)
        if volume.status == "creating":
            raise EC2ClientError("IncorrectState", f"{volume_id} is not 'available'.")
        return original_attach_response(self)

    _Responses.attach_volume = attach_volume_response

    original_create_snapshot = EBSBackend.create_snapshot

    def create_snapshot(self: Any, volume_id: str, description: str, *args: Any, **kwargs: Any) -> Any:
        """A snapshot carries its volume's encryption key (moto drops it); when the caller may no
        longer use that key, the snapshot ends in state `error`
        (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-describing-snapshots.html)."""
        snapshot = original_create_snapshot(self, volume_id, description, *args, **kwargs)
        volume = snapshot.volume
        snapshot.encrypted = bool(volume.encrypted)
        snapshot.kms_key_id = volume.kms_key_id if volume.encrypted else None
        if snapshot.encrypted and key_problem(
            current_caller(), snapshot.kms_key_id, self.account_id, self.region_name, SNAPSHOT_KEY_ACTIONS[:3]
        ):
            snapshot.status = "error"
        return snapshot

    EBSBackend.create_snapshot = create_snapshot

    def copy_snapshot(
        self: Any, source_snapshot_id: str, source_region: str, description: str, kms_key_id: str | None
    ) -> Any:
        """CopySnapshot of an own or shared snapshot, encrypted with KmsKeyId when given, else the
        source's key (same owner) or the caller's EBS default key
        (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopySnapshot.html). Like
        CreateVolume, the key is checked asynchronously: the copy ends in state `error`."""
        from moto.ec2.models import ec2_backends
        from moto.ec2.models.elastic_block_store import Snapshot
        from moto.ec2.utils import random_snapshot_id

        source_backend = ec2_backends[self.account_id][source_region or self.region_name]
        source = source_backend.get_snapshot(source_snapshot_id)
        caller = current_caller()
        encrypted = bool(_copy_encrypted.get() or source.encrypted or getattr(self, "ebs_encryption_by_default", False))
        if encrypted and not kms_key_id:
            same_owner = source.owner_id == self.account_id
            kms_key_id = source.kms_key_id if source.encrypted and same_owner else default_key_arn(self)
        key = find_key(kms_key_id, self.account_id, self.region_name) if kms_key_id else None
        copy = Snapshot(
            self,
            random_snapshot_id(),
            volume=source.volume,
            description=description,
            encrypted=encrypted,
            kms_key_id=(key.arn if key else kms_key_id) if encrypted else None,
        )
        problems = []
        if encrypted:
            problems.append(key_problem(caller, kms_key_id, self.account_id, self.region_name, VOLUME_KEY_ACTIONS))
        if source.encrypted:
            problems.append(
                key_problem(caller, source.kms_key_id, self.account_id, self.region_name, SNAPSHOT_KEY_ACTIONS)
            )
        if any(problems):
            copy.status = "error"
        self.snapshots[copy.id] = copy
        return copy

    EBSBackend.copy_snapshot = copy_snapshot

    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    original_copy_response = ElasticBlockStore.copy_snapshot

    def copy_snapshot_response(self: Any) -> Any:
        # moto ignores Encrypted on CopySnapshot; hand it to the backend above.
        token = _copy_encrypted.set(self._get_bool_param("Encrypted", False))
        try:
            return original_copy_response(self)
        finally:
            _copy_encrypted.reset(token)

    ElasticBlockStore.copy_snapshot = copy_snapshot_response


def install() -> None:
    install_default_key_api()
    install_snapshot_visibility()
    install_volume_rules()
