"""EBS direct APIs (StartSnapshot, PutSnapshotBlock, CompleteSnapshot, ListSnapshotBlocks,
GetSnapshotBlock) as AWS behaves
(https://docs.aws.amazon.com/ebs/latest/userguide/writesnapshots.html).

moto 5.2.1 ignores Encrypted and KmsKeyArn, reports 512-byte blocks, marks the EC2 snapshot
completed at once and leaves a phantom EC2 volume behind."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .ec2_rules import VOLUME_KEY_ACTIONS, default_key_arn, key_problem
from .errors import RestJsonError
from .identity import principal_for_access_key
from .kms_rules import find_key

# "Each block is 512 KiB" (https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html:
# BlockSize in the response; https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-elements.html).
BLOCK_SIZE = 524288
# EBS direct snapshots have no source volume: EC2 reports this placeholder volume id for them.
NO_VOLUME_ID = "vol-ffffffff"


def _snapshot_not_found(snapshot_id: str) -> RestJsonError:
    # ResourceNotFoundException, Reason SNAPSHOT_NOT_FOUND
    # (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors).
    return RestJsonError(
        404, "ResourceNotFoundException", f"The snapshot '{snapshot_id}' does not exist.", "SNAPSHOT_NOT_FOUND"
    )


def install() -> None:
    from moto.ebs.models import EBSSnapshot
    from moto.ebs.responses import EBSResponse
    from moto.ec2.models.elastic_block_store import Snapshot, Volume
    from moto.ec2.utils import random_snapshot_id

    def own_ebs_snapshot(self: Any, snapshot_id: str) -> Any:
        snapshot = self.ebs_backend.snapshots.get(snapshot_id)
        if snapshot is None:
            raise _snapshot_not_found(snapshot_id)
        return snapshot

    def start_snapshot(self: Any) -> str:
        params = json.loads(self.body or b"{}")
        backend = self.ebs_backend
        ec2 = backend.ec2_backend
        caller = principal_for_access_key(self.get_access_key())
        volume_size = int(params["VolumeSize"])
        # "Encrypted: Indicates whether to encrypt the snapshot ... If you specify a KMS key
        # (KmsKeyArn) ... the default KMS key for EBS is used otherwise"; encryption by default
        # makes every new snapshot encrypted (API_StartSnapshot.html).
        encrypted = bool(params.get("Encrypted")) or bool(ec2.ebs_encryption_by_default)
        kms_key_arn = params.get("KmsKeyArn")
        if kms_key_arn and not encrypted:
            raise RestJsonError(
                400, "ValidationException", "KmsKeyArn requires Encrypted to be true", "INVALID_PARAMETER_VALUE"
            )
        if encrypted:
            kms_key_arn = kms_key_arn or default_key_arn(ec2)
            key = find_key(kms_key_arn, self.current_account, self.region)
            if key is None:
                raise RestJsonError(
                    404,
                    "ResourceNotFoundException",
                    f"The KMS key '{kms_key_arn}' does not exist.",
                    "DEPENDENCY_RESOURCE_NOT_FOUND",
                )
            kms_key_arn = key.arn
            # The caller must be allowed to use the key (AccessDeniedException, Reason
            # DEPENDENCY_ACCESS_DENIED: "access to a dependency such as KMS was denied").
            problem = key_problem(caller, kms_key_arn, self.current_account, self.region, VOLUME_KEY_ACTIONS)
            if problem:
                raise RestJsonError(403, "AccessDeniedException", problem, "DEPENDENCY_ACCESS_DENIED")
        # No phantom EC2 volume: the snapshot points at a detached placeholder.
        placeholder = Volume(ec2, NO_VOLUME_ID, volume_size, zone=None, encrypted=encrypted, kms_key_id=kms_key_arn)
        snapshot = Snapshot(
            ec2,
            random_snapshot_id(),
            volume=placeholder,
            description=params.get("Description") or "",
            encrypted=encrypted,
            kms_key_id=kms_key_arn if encrypted else None,
        )
        # "The snapshot is in the pending state until CompleteSnapshot" (writesnapshots.html).
        snapshot.status = "pending"
        if params.get("Tags"):
            snapshot.add_tags({t["Key"]: t["Value"] for t in params["Tags"]})
        ec2.snapshots[snapshot.id] = snapshot
        ebs_snapshot = EBSSnapshot(account_id=self.current_account, snapshot=snapshot)
        ebs_snapshot.block_size = BLOCK_SIZE
        ebs_snapshot.ec2_snapshot = snapshot
        backend.snapshots[snapshot.id] = ebs_snapshot
        body = ebs_snapshot.to_json()
        if encrypted:
            body["KmsKeyArn"] = kms_key_arn
        return json.dumps(body)

    def put_snapshot_block(self: Any) -> Any:
        parts = self.parsed_url.path.split("/")
        snapshot_id, block_index = parts[-3], parts[-1]
        snapshot = own_ebs_snapshot(self, snapshot_id)
        if snapshot.status != "pending":
            # Blocks can only be written while the snapshot is pending.
            raise _snapshot_not_found(snapshot_id)
        headers = {k.lower(): v for k, v in self.headers.items()}
        data = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
        checksum = headers.get("x-amz-checksum", "")
        # "Checksum: ... the Base64-encoded SHA256 checksum of the block data"; a mismatch is
        # ValidationException, Reason INVALID_CHECKSUM (API_PutSnapshotBlock.html).
        if base64.b64encode(hashlib.sha256(data).digest()).decode() != checksum:
            raise RestJsonError(
                400, "ValidationException", "The checksum does not match the block data.", "INVALID_CHECKSUM"
            )
        algorithm = headers.get("x-amz-checksum-algorithm", "SHA256")
        snapshot.put_block(block_index, data, checksum, algorithm, str(len(data)))
        return 201, {"status": 201, "x-amz-Checksum": checksum, "x-amz-Checksum-Algorithm": "SHA256"}, "{}"

    def complete_snapshot(self: Any) -> Any:
        snapshot_id = self.parsed_url.path.split("/")[-1]
        snapshot = own_ebs_snapshot(self, snapshot_id)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = "completed"
        # ChangedBlocksCount must equal the blocks written; with Checksum and aggregation method
        # LINEAR the checksum is SHA256 over the blocks' checksums in block-index order
        # (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-checksums.html).
        changed = headers.get("x-amz-changedblockscount")
        if changed is not None and int(changed) != len(snapshot.blocks):
            status = "error"
        aggregated = headers.get("x-amz-checksum")
        if aggregated and headers.get("x-amz-checksum-aggregation-method", "LINEAR") == "LINEAR":
            ordered = [snapshot.blocks[i] for i in sorted(snapshot.blocks, key=int)]
            digest = hashlib.sha256(b"".join(base64.b64decode(b.checksum) for b in ordered)).digest()
            if base64.b64encode(digest).decode() != aggregated:
                status = "error"
        snapshot.status = status
        ec2_snapshot = getattr(snapshot, "ec2_snapshot", None)
        if ec2_snapshot is not None:
            ec2_snapshot.status = status
        # CompleteSnapshot answers 202 with Status "pending" while EBS finishes; the EC2 snapshot
        # is completed (or error) once that is done, at once here.
        return 202, {"status": 202}, json.dumps({"Status": "pending" if status == "completed" else status})

    def list_snapshot_blocks(self: Any) -> str:
        snapshot_id = self.path.split("/")[-2]
        snapshot = own_ebs_snapshot(self, snapshot_id)
        blocks = [
            {"BlockIndex": int(i), "BlockToken": snapshot.blocks[i].block_token}
            for i in sorted(snapshot.blocks, key=int)
        ]
        return json.dumps({"Blocks": blocks, "VolumeSize": snapshot.volume_size, "BlockSize": snapshot.block_size})

    def get_snapshot_block(self: Any) -> Any:
        parts = self.path.split("/")
        snapshot_id, block_index = parts[-3], parts[-1]
        snapshot = own_ebs_snapshot(self, snapshot_id)
        block = snapshot.blocks.get(block_index)
        if block is None:
            raise RestJsonError(
                404, "ResourceNotFoundException", f"The block {block_index} does not exist.", "SNAPSHOT_NOT_FOUND"
            )
        headers = {
            "x-amz-Checksum": block.checksum,
            "x-amz-Checksum-Algorithm": block.checksum_algorithm,
            "x-amz-Data-Length": str(len(block.block_data)),
        }
        return 200, headers, block.block_data

    EBSResponse.start_snapshot = start_snapshot
    EBSResponse.put_snapshot_block = put_snapshot_block
    EBSResponse.complete_snapshot = complete_snapshot
    EBSResponse.list_snapshot_blocks = list_snapshot_blocks
    EBSResponse.get_snapshot_block = get_snapshot_block
