"""EBS direct APIs (StartSnapshot, PutSnapshotBlock, CompleteSnapshot, ListSnapshotBlocks,
GetSnapshotBlock) as AWS behaves
(https://docs.aws.amazon.com/ebs/latest/userguide/writesnapshots.html).

moto 5.2.1 ignores Encrypted and KmsKeyArn, reports 512-byte blocks, marks the EC2 snapshot
completed at once (here: after a while, snapshot_completion.py), leaves a phantom EC2 volume
behind, keeps every block in memory and never frees the blocks of a deleted snapshot.

The block operations (put_block, get_block, list_blocks) are defined once here and used both by
moto's request path and by the fast path (fast_path.py) that serves the data plane ahead of moto.
Block bytes live in the block store (block_store.py), not in memory."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from typing import Any

from . import consistency, ebs_limits, ebs_listing, idempotency, snapshot_completion
from .block_store import BlockStore, open_block_store
from .ebs_keys import VOLUME_KEY_ACTIONS, default_key_arn, key_problem
from .errors import RestJsonError
from .identity import principal_for_access_key
from .kms_rules import find_key
from .patching import replace_methods

# "Each block is 512 KiB" (https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html:
# BlockSize in the response; https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-elements.html).
BLOCK_SIZE = 524288
# EBS direct snapshots have no source volume: EC2 reports this placeholder volume id for them.
NO_VOLUME_ID = "vol-ffffffff"


def snapshot_not_found(snapshot_id: str) -> RestJsonError:
    # ResourceNotFoundException, Reason SNAPSHOT_NOT_FOUND
    # (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors).
    return RestJsonError(
        404, "ResourceNotFoundException", f"The snapshot '{snapshot_id}' does not exist.", "SNAPSHOT_NOT_FOUND"
    )


ZERO_BLOCK = bytes(BLOCK_SIZE)
ZERO_BLOCK_DIGEST = hashlib.sha256(ZERO_BLOCK).digest()
ZERO_BLOCK_CHECKSUM = base64.b64encode(ZERO_BLOCK_DIGEST).decode()

_store: BlockStore | None = None
# Guards every snapshot's `blocks` index together with its `released` flag, so a block written while
# its snapshot is being deleted is released rather than leaked.
_index_lock = threading.Lock()


def block_store() -> BlockStore:
    global _store
    if _store is None:
        _store = open_block_store(BLOCK_SIZE, ZERO_BLOCK_DIGEST)
    return _store


def close_block_store() -> None:
    """Removes the store's folder (the emulator calls this on its way out)."""
    global _store
    if _store is not None:
        _store.close()
        _store = None


class StoredBlock:
    """One written block of a snapshot, in place of moto's Block (which holds the bytes): the index
    keeps the SHA-256 the bytes are stored under."""

    __slots__ = ("digest", "checksum", "length", "block_token")
    checksum_algorithm = "SHA256"

    def __init__(self, digest: bytes, checksum: str, length: int):
        self.digest = digest
        self.checksum = checksum
        self.length = length
        # GetSnapshotBlock needs a BlockToken from ListSnapshotBlocks
        # (https://docs.aws.amazon.com/ebs/latest/APIReference/API_Block.html).
        self.block_token = str(uuid.uuid4())

    @property
    def data_length(self) -> str:
        return str(self.length)

    @property
    def block_data(self) -> bytes:
        # moto's ListChangedBlocks compares blocks by their data.
        return block_store().read(self.digest, self.length)


def _validation_error(message: str, reason: str) -> RestJsonError:
    return RestJsonError(400, "ValidationException", message, reason)


def _block_index(text: str) -> str:
    # "BlockIndex ... Valid Range: Minimum value of 0" (API_PutSnapshotBlock.html): a whole number.
    if not text.isdigit():
        raise _validation_error(f"The block index '{text}' is not a whole number.", "INVALID_PARAMETER_VALUE")
    return str(int(text))


def check_visible(snapshot: Any) -> None:
    """Eventual consistency (consistency.py): right after StartSnapshot the snapshot may not exist
    yet for the data plane ("snapshot does not exist", ResourceNotFoundException)."""
    if time.monotonic() < getattr(snapshot, "ec2restore_visible_from", 0.0):
        raise snapshot_not_found(snapshot.snapshot_id)


def put_block(snapshot: Any, block_index: str, data: bytes, checksum: str) -> str:
    """PutSnapshotBlock on `snapshot` (moto's EBSSnapshot); returns the checksum to answer. Counted
    against the EBS direct limits (ebs_limits.py)."""
    check_visible(snapshot)
    with ebs_limits.guarded(snapshot, is_put=True):
        return _put_block(snapshot, block_index, data, checksum)


def _put_block(snapshot: Any, block_index: str, data: bytes, checksum: str) -> str:
    if snapshot.status != "pending":
        # Blocks can only be written while the snapshot is pending ("The target snapshot must be in the
        # pending state", API_PutSnapshotBlock.html).
        raise snapshot_not_found(snapshot.snapshot_id)
    index = _block_index(block_index)
    # "The checksum that you provide is validated against a checksum generated by Amazon EBS ... If the
    # checksums do not correspond, the request fails" (ebsapis-using-checksums.html): ValidationException
    # (API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors). AWS names no checksum value among its
    # Reasons (API_ValidationException.html); the request's parameter is what is wrong.
    if checksum == ZERO_BLOCK_CHECKSUM and data == ZERO_BLOCK:
        # The all-zero block: a comparison instead of a SHA-256 (same answer, a fraction of the CPU).
        digest = ZERO_BLOCK_DIGEST
    else:
        digest = hashlib.sha256(data).digest()
        if base64.b64encode(digest).decode() != checksum:
            raise _validation_error("The checksum does not match the block data.", "INVALID_PARAMETER_VALUE")
    # "Data written to a snapshot must be aligned with 512-KiB sectors"; DataLength "the size of the data
    # to write to the block" is 524288 (API_PutSnapshotBlock.html).
    if len(data) != BLOCK_SIZE:
        raise _validation_error(
            f"The block data is {len(data)} bytes; EBS direct blocks are {BLOCK_SIZE} bytes (DataLength {BLOCK_SIZE}).",
            "INVALID_PARAMETER_VALUE",
        )
    store = block_store()
    store.put(digest, data)
    block = StoredBlock(digest, checksum, len(data))
    with _index_lock:
        if getattr(snapshot, "released", False):
            replaced = block
        else:
            # "If the specified block contains data, the existing data is overwritten."
            replaced = snapshot.blocks.get(index)
            snapshot.blocks[index] = block
    if replaced is not None:
        store.release(replaced.digest)
    return checksum


def get_block(snapshot: Any, block_index: str) -> StoredBlock:
    check_visible(snapshot)
    snapshot_completion.require_completed(snapshot)
    block = snapshot.blocks.get(str(int(block_index)) if block_index.isdigit() else block_index)
    if block is None:
        raise RestJsonError(
            404, "ResourceNotFoundException", f"The block {block_index} does not exist.", "SNAPSHOT_NOT_FOUND"
        )
    return block


def block_headers(block: StoredBlock) -> dict[str, str]:
    return {
        "x-amz-Checksum": block.checksum,
        "x-amz-Checksum-Algorithm": block.checksum_algorithm,
        "x-amz-Data-Length": block.data_length,
    }


def list_blocks(snapshot: Any, query: dict[str, str]) -> dict[str, Any]:
    """ListSnapshotBlocks: one page of the written blocks (ebs_listing.py)."""
    check_visible(snapshot)
    snapshot_completion.require_completed(snapshot)
    with _index_lock:
        tokens = {int(i): b.block_token for i, b in snapshot.blocks.items()}
    page = ebs_listing.page_of(
        snapshot.snapshot_id, sorted(tokens), query, lambda i: {"BlockIndex": i, "BlockToken": tokens[i]}
    )
    answer = {"Blocks": page.pop("entries"), "VolumeSize": snapshot.volume_size, "BlockSize": snapshot.block_size}
    return {**answer, **page}


def list_changed_blocks(first: Any, second: Any, query: dict[str, str]) -> dict[str, Any]:
    """ListChangedBlocks: one page of the blocks that differ between two snapshots (ebs_listing.py)."""
    for snapshot in (first, second):
        check_visible(snapshot)
        snapshot_completion.require_completed(snapshot)
    with _index_lock:
        changed = ebs_listing.changed_block_indexes(first, second)
        first_blocks, second_blocks = dict(first.blocks), dict(second.blocks)

    def entry(index: int) -> dict[str, Any]:
        a, b = first_blocks.get(str(index)), second_blocks.get(str(index))
        return {
            "BlockIndex": index,
            **({"FirstBlockToken": a.block_token} if a is not None else {}),
            **({"SecondBlockToken": b.block_token} if b is not None else {}),
        }

    page = ebs_listing.page_of(f"{first.snapshot_id}/{second.snapshot_id}", changed, query, entry)
    answer = {"ChangedBlocks": page.pop("entries"), "VolumeSize": second.volume_size, "BlockSize": second.block_size}
    return {**answer, **page}


def release_snapshot_blocks(account_id: str, region: str, snapshot_id: str) -> None:
    """Drops the EBS direct copy of a deleted snapshot and frees its blocks."""
    ebs_limits.forget(snapshot_id)
    from moto.ebs.models import ebs_backends

    regions = dict.get(ebs_backends, account_id)
    backend = dict.get(regions, region) if regions is not None else None
    if backend is None:
        return
    snapshot = backend.snapshots.pop(snapshot_id, None)
    if snapshot is None:
        return
    with _index_lock:
        snapshot.released = True
        blocks = list(snapshot.blocks.values())
        snapshot.blocks.clear()
    store = block_store()
    for block in blocks:
        store.release(block.digest)


def install() -> None:
    from moto.ebs.models import EBSSnapshot
    from moto.ebs.responses import EBSResponse
    from moto.ec2.models.elastic_block_store import Snapshot, Volume
    from moto.ec2.utils import random_snapshot_id

    def own_ebs_snapshot(self: Any, snapshot_id: str) -> Any:
        from .volume_data import ebs_snapshot

        return ebs_snapshot(self.current_account, self.region, snapshot_id)

    def start_snapshot(self: Any) -> str:
        params = json.loads(self.body or b"{}")
        return idempotency.start_snapshot_once(
            self.current_account, self.region, params, lambda: start_new_snapshot(self, params)
        )

    def start_new_snapshot(self: Any, params: dict[str, Any]) -> str:
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
        # Eventual consistency (consistency.py, on by default): EBS direct and EC2 each learn of the new
        # snapshot after a moment, independently; EC2 answers InvalidSnapshot.NotFound meanwhile, as for
        # any new id ("the results of an API command you run might not be immediately visible to all
        # subsequent commands you run": https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html).
        ebs_snapshot.ec2restore_visible_from = time.monotonic() + consistency.delay_s()
        consistency.remember_new(snapshot.id)
        body = ebs_snapshot.to_json()
        if encrypted:
            body["KmsKeyArn"] = kms_key_arn
        return json.dumps(body)

    def put_snapshot_block(self: Any) -> Any:
        parts = self.parsed_url.path.split("/")
        snapshot = own_ebs_snapshot(self, parts[-3])
        data = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
        checksum = put_block(snapshot, parts[-1], data, self.headers.get("x-amz-Checksum", ""))
        return 201, {"status": 201, "x-amz-Checksum": checksum, "x-amz-Checksum-Algorithm": "SHA256"}, "{}"

    def complete_snapshot(self: Any) -> Any:
        snapshot_id = self.parsed_url.path.split("/")[-1]
        snapshot = own_ebs_snapshot(self, snapshot_id)
        check_visible(snapshot)
        if snapshot_completion.already_sealed(snapshot):
            ec2_snapshot = getattr(snapshot, "ec2_snapshot", None)
            return 202, {"status": 202}, json.dumps({"Status": getattr(ec2_snapshot, "status", snapshot.status)})
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = "completed"
        with _index_lock:
            written = dict(snapshot.blocks)
        # ChangedBlocksCount must equal the blocks written; with Checksum and aggregation method
        # LINEAR the checksum is SHA256 over the blocks' checksums in block-index order
        # (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-checksums.html).
        changed = headers.get("x-amz-changedblockscount")
        if changed is not None and int(changed) != len(written):
            status = "error"
        aggregated = headers.get("x-amz-checksum")
        if aggregated and headers.get("x-amz-checksum-aggregation-method", "LINEAR") == "LINEAR":
            ordered = [written[i] for i in sorted(written, key=int)]
            digest = hashlib.sha256(b"".join(base64.b64decode(b.checksum) for b in ordered)).digest()
            if base64.b64encode(digest).decode() != aggregated:
                status = "error"
        ebs_limits.forget(snapshot_id)
        # CompleteSnapshot answers 202 with Status "pending" while EBS finishes (snapshot_completion.py).
        snapshot_completion.seal(snapshot, status)
        return 202, {"status": 202}, json.dumps({"Status": "pending" if status == "completed" else status})

    def list_snapshot_blocks(self: Any) -> str:
        snapshot = own_ebs_snapshot(self, self.path.split("/")[-2])
        return json.dumps(list_blocks(snapshot, ebs_listing.query_of(self.querystring)))

    def list_changed_blocks_response(self: Any) -> str:
        query = ebs_listing.query_of(self.querystring)
        first = own_ebs_snapshot(self, ebs_listing.require_first_snapshot(query.get("firstSnapshotId")))
        second = own_ebs_snapshot(self, self.path.split("/")[-2])
        return json.dumps(list_changed_blocks(first, second, query))

    def get_snapshot_block(self: Any) -> Any:
        parts = self.path.split("/")
        block = get_block(own_ebs_snapshot(self, parts[-3]), parts[-1])
        return 200, block_headers(block), block.block_data

    from moto.ec2.models.elastic_block_store import EBSBackend as Ec2SnapshotBackend

    original_delete_snapshot = Ec2SnapshotBackend.delete_snapshot

    def delete_snapshot(self: Any, snapshot_id: str) -> Any:
        # EC2 DeleteSnapshot deletes the snapshot, EBS direct view included: its blocks are freed
        # (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSnapshot.html).
        deleted = original_delete_snapshot(self, snapshot_id)
        release_snapshot_blocks(self.account_id, self.region_name, snapshot_id)
        return deleted

    Ec2SnapshotBackend.delete_snapshot = delete_snapshot
    block_store()

    replace_methods(
        EBSResponse,
        start_snapshot,
        put_snapshot_block,
        complete_snapshot,
        list_snapshot_blocks,
        get_snapshot_block,
        list_changed_blocks=list_changed_blocks_response,
    )
