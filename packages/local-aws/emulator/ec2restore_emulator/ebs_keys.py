"""EBS and KMS: the region's EBS default key (GetEbsDefaultKmsKeyId / ResetEbsDefaultKmsKeyId) and
the KMS use EBS makes on a caller's behalf for a volume or snapshot (key_problem)."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult

from .identity import Principal
from .kms_rules import find_key, key_is_usable, may_use_key


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
