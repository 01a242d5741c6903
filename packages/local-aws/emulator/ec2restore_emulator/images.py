"""Images and launches: RegisterImage attributes, ENA-requiring instance types, and a launch whose
root volume key is unusable.

- RegisterImage from an EBS snapshot keeps Architecture, BootMode, EnaSupport, ImdsSupport,
  RootDeviceName, VirtualizationType and the BlockDeviceMappings (Encrypted, KmsKeyId,
  DeleteOnTermination, VolumeSize, VolumeType) it is given, and DescribeImages reports them with
  PlatformDetails "Linux/UNIX" and UsageOperation "RunInstances"
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RegisterImage.html,
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/billing-info-fields.html). moto 5.2.1 keeps
  only Name and Description and invents a 15 GiB unencrypted snapshot.
- An instance reports the image's BootMode, EnaSupport, PlatformDetails and UsageOperation.
- An instance type that requires ENA refuses an image registered without EnaSupport:
  InvalidParameterCombination "Enhanced networking with the Elastic Network Adapter (ENA) is
  required for the '<type>' instance type. Ensure that you are using an AMI that is enabled for
  ENA." (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/enhanced-networking-ena.html).
- A launch whose root volume is encrypted with a key the caller may not use is accepted, stays
  `pending`, then is `terminated` with StateReason Client.InvalidKMSKey.InvalidState "The KMS key
  provided is in an incorrect state"
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html#troubleshooting-launch-internal).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.ec2.exceptions import EC2ClientError

from .ebs_keys import SNAPSHOT_KEY_ACTIONS, VOLUME_KEY_ACTIONS, key_problem
from .ec2_rules import KMS_FAILURE_DELAY_S
from .identity import current_caller
from .kms_rules import find_key


def _bool(value: Any) -> bool | None:
    if value is None:
        return None
    return str(value).lower() == "true"


def _register_image(response: Any) -> Any:
    from moto.core.responses import ActionResult

    backend = response.ec2_backend
    mappings = response._get_param("BlockDeviceMappings", []) or []
    root_name = response._get_param("RootDeviceName")
    image = backend.register_image(response._get_param("Name"), response._get_param("Description", ""))
    # moto made a placeholder volume snapshot for the image: not part of what AWS registers.
    placeholder = getattr(image, "ebs_snapshot", None)
    if placeholder is not None:
        backend.snapshots.pop(placeholder.id, None)
    bdm: list[dict[str, Any]] = []
    for mapping in mappings:
        ebs = mapping.get("Ebs") or {}
        entry: dict[str, Any] = {"DeviceName": mapping.get("DeviceName")}
        if ebs:
            snapshot = backend.get_snapshot(ebs["SnapshotId"]) if ebs.get("SnapshotId") else None
            encrypted = _bool(ebs.get("Encrypted"))
            if encrypted is None and snapshot is not None:
                encrypted = bool(snapshot.encrypted)
            kms_key_id = ebs.get("KmsKeyId") or (snapshot.kms_key_id if snapshot is not None else None)
            key = find_key(kms_key_id, backend.account_id, backend.region_name) if kms_key_id else None
            entry["Ebs"] = {
                "SnapshotId": ebs.get("SnapshotId"),
                "VolumeSize": int(ebs.get("VolumeSize") or (snapshot.volume.size if snapshot is not None else 8)),
                "DeleteOnTermination": _bool(ebs.get("DeleteOnTermination")) is not False,
                "VolumeType": ebs.get("VolumeType") or "gp2",
                "Encrypted": bool(encrypted),
                **({"KmsKeyId": key.arn if key else kms_key_id} if encrypted and kms_key_id else {}),
            }
            if mapping.get("DeviceName") == root_name and snapshot is not None:
                image.ebs_snapshot = snapshot
        bdm.append(entry)
    image.ec2restore_bdm = bdm
    image.architecture = response._get_param("Architecture") or "x86_64"
    # "VirtualizationType ... Default: paravirtual" (API_RegisterImage.html).
    image.virtualization_type = response._get_param("VirtualizationType") or "paravirtual"
    image.root_device_name = root_name
    image.root_device_type = "ebs"
    image.boot_mode = response._get_param("BootMode")
    image.ena_support = bool(_bool(response._get_param("EnaSupport")))
    image.imds_support = response._get_param("ImdsSupport")
    image.sriov = response._get_param("SriovNetSupport")
    image.platform_details = "Linux/UNIX"
    image.usage_operation = "RunInstances"
    return ActionResult({"ImageId": image.id})


def _ena_required(instance_type: str) -> bool:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    info = INSTANCE_TYPES.get(instance_type) or {}
    return (info.get("NetworkInfo") or {}).get("EnaSupport") == "required"


def _root_key_problem(caller: Any, backend: Any, instance: Any, image: Any) -> str | None:
    """Why EBS could not make the instance's root volume (None when it can)."""
    root = instance.block_device_mapping.get(instance.root_device_name) if instance.root_device_name else None
    if root is not None:
        volume = backend.volumes.get(root.volume_id)
        if volume is not None and getattr(volume, "ec2restore_failure", None):
            return volume.ec2restore_failure
    for entry in getattr(image, "ec2restore_bdm", None) or []:
        ebs = entry.get("Ebs") or {}
        if entry.get("DeviceName") != image.root_device_name or not ebs.get("Encrypted"):
            continue
        problem = key_problem(caller, ebs.get("KmsKeyId"), backend.account_id, backend.region_name, VOLUME_KEY_ACTIONS)
        if problem:
            return problem
        snapshot = backend.snapshots.get(ebs.get("SnapshotId") or "")
        if snapshot is not None and snapshot.encrypted and snapshot.kms_key_id != ebs.get("KmsKeyId"):
            return key_problem(
                caller, snapshot.kms_key_id, backend.account_id, backend.region_name, SNAPSHOT_KEY_ACTIONS
            )
    return None


def _keep_state_reason(instance: Any, reason: Any) -> None:
    """From now on the instance's StateReason is `reason`, whatever moto sets: moto's terminate() sets
    `terminated` and then its own "Client.UserInitiatedShutdown" reason, and a DescribeInstances served
    on another thread between that and a later assignment saw a launch that failed for its key as shut
    down by its user (a restore failed with category aws instead of kms, under load). A property of a
    subclass is read before the instance's own attribute, and ignores moto's assignment."""
    base = type(instance)

    class LaunchFailed(base):  # type: ignore[misc, valid-type]
        state_reason = property(lambda self: reason, lambda self, value: None)

    instance.__class__ = LaunchFailed


def _terminate_later(instance: Any) -> None:
    from moto.ec2.models.instances import StateReason

    instance._state.name = "pending"
    instance._state.code = 0

    def terminate() -> None:
        # The unusable key's volume may be gone already (fail_volume_later removes it after the same
        # delay, on another timer): detach only what still exists, or moto's terminate raises here
        # and the instance would stay `pending` for ever.
        volumes = instance.ec2_backend.volumes
        for device, mapping in list(instance.block_device_mapping.items()):
            if mapping.volume_id not in volumes:
                del instance.block_device_mapping[device]
        _keep_state_reason(
            instance,
            StateReason(
                "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state",
                "Client.InvalidKMSKey.InvalidState",
            ),
        )
        instance.terminate()
        instance._reason = "Server.InternalError"

    timer = threading.Timer(KMS_FAILURE_DELAY_S, terminate)
    timer.daemon = True
    timer.start()


def install() -> None:
    from moto.ec2.models.amis import Ami
    from moto.ec2.responses.amis import AmisResponse
    from moto.ec2.responses.instances import InstanceResponse

    def register_image(self: Any) -> Any:
        self.error_on_dryrun()
        return _register_image(self)

    AmisResponse.register_image = register_image

    original_mappings = Ami.block_device_mappings

    def block_device_mappings(self: Any) -> list[dict[str, Any]]:
        registered = getattr(self, "ec2restore_bdm", None)
        return registered if registered is not None else original_mappings.fget(self)

    Ami.block_device_mappings = property(block_device_mappings)

    original_run = InstanceResponse.run_instances

    def run_instances(self: Any) -> Any:
        backend = self.ec2_backend
        image_id = self._get_param("ImageId")
        instance_type = self._get_param("InstanceType", "m1.small")
        images = backend.describe_images(ami_ids=[image_id]) if image_id else []
        image = images[0] if images else None
        # Only images registered here carry EnaSupport; moto's catalogue images count as ENA-enabled.
        if image is not None and getattr(image, "ena_support", True) is False and _ena_required(instance_type):
            raise EC2ClientError(
                "InvalidParameterCombination",
                f"Enhanced networking with the Elastic Network Adapter (ENA) is required for the '{instance_type}' "
                "instance type. Ensure that you are using an AMI that is enabled for ENA.",
            )
        before = set(backend.all_instances()) if hasattr(backend, "all_instances") else None
        result = original_run(self)
        if image is None:
            return result
        caller = current_caller()
        for reservation in list(backend.reservations.values()):
            for instance in reservation.instances:
                if instance.image_id != image_id or (before is not None and instance in before):
                    continue
                if getattr(instance, "ec2restore_seen", False):
                    continue
                instance.ec2restore_seen = True
                instance.boot_mode = getattr(image, "boot_mode", None)
                instance.current_instance_boot_mode = instance.boot_mode or "legacy-bios"
                instance.ena_support = getattr(image, "ena_support", True)
                instance.platform_details = getattr(image, "platform_details", "Linux/UNIX")
                instance.usage_operation = getattr(image, "usage_operation", "RunInstances")
                if getattr(image, "ec2restore_bdm", None) is not None:
                    instance.virtualization_type = image.virtualization_type
                    instance.architecture = image.architecture
                    instance.root_device_name = image.root_device_name
                if _root_key_problem(caller, backend, instance, image):
                    _terminate_later(instance)
        return result

    InstanceResponse.run_instances = run_instances
