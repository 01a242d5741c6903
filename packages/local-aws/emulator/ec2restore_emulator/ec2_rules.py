"""EC2/EBS volumes and snapshots: encryption by default, KmsKeyId on volumes and snapshots (always the
key ARN), the `creating` state of a new volume, and the asynchronous failure of a volume whose KMS key
is unusable. The default key lives in ebs_keys.py, snapshots across accounts in snapshot_sharing.py."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from typing import Any

from moto.ec2.exceptions import EC2ClientError

from . import ebs_keys, snapshot_completion, snapshot_sharing
from .ebs_keys import SNAPSHOT_KEY_ACTIONS, VOLUME_KEY_ACTIONS, default_key_arn, key_problem
from .identity import current_caller
from .kms_rules import find_key

# How long a volume whose key is unusable stays `creating` before it disappears (AWS: seconds).
KMS_FAILURE_DELAY_S = float(os.environ.get("EC2RESTORE_EMULATOR_KMS_FAILURE_DELAY_MS", "1500")) / 1000
# How long a healthy new volume stays `creating` before it is `available` ("The volume state must be
# available before you can attach it", https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-volume.html).
VOLUME_CREATING_S = float(os.environ.get("EC2RESTORE_EMULATOR_VOLUME_CREATING_MS", "1000")) / 1000


_copy_encrypted: contextvars.ContextVar[bool] = contextvars.ContextVar("copy_encrypted", default=False)


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
        # A volume of a launch's block device mapping is attached at launch ("the EBS volumes and
        # instance store volumes to attach to an instance at launch",
        # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_BlockDeviceMapping.html), so it is
        # `in-use` once its instance is running, and moto's instances are running at once. Only a
        # volume of its own (CreateVolume) is `creating` for a while; AttachVolume refuses those.
        if self.attachment is None and time.monotonic() < getattr(self, "ec2restore_available_at", 0):
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
        """A snapshot carries its volume's encryption key (moto drops it) and is `pending` for a while
        (snapshot_completion.finish_later); when the caller may no longer use that key, the snapshot
        ends in state `error`
        (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-describing-snapshots.html): a disabled
        or pending-deletion key fails every use of it at once, a volume's data key included
        (https://docs.aws.amazon.com/kms/latest/developerguide/unusable-kms-keys.html)."""
        snapshot = original_create_snapshot(self, volume_id, description, *args, **kwargs)
        volume = snapshot.volume
        snapshot.encrypted = bool(volume.encrypted)
        snapshot.kms_key_id = volume.kms_key_id if volume.encrypted else None
        if snapshot.encrypted and key_problem(
            current_caller(), snapshot.kms_key_id, self.account_id, self.region_name, SNAPSHOT_KEY_ACTIONS[:3]
        ):
            snapshot.status = "error"
        else:
            snapshot_completion.finish_later(snapshot)  # `pending` first, as on AWS
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
        else:
            snapshot_completion.finish_later(copy)  # copied asynchronously: `pending` first
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
    ebs_keys.install_default_key_api()
    snapshot_sharing.install_snapshot_visibility()
    install_volume_rules()
