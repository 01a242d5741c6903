"""The data of volumes and of the snapshots EC2 takes of them, so the EBS direct APIs can read any
completed snapshot of the account, not only those StartSnapshot made.

AWS: "You can use the EBS direct APIs to ... read data on your snapshots" whatever made them
(https://docs.aws.amazon.com/ebs/latest/userguide/readsnapshots.html); ListSnapshotBlocks returns the
blocks that hold written data, and a snapshot of a volume holds the volume's data at the time of the
snapshot (https://docs.aws.amazon.com/ebs/latest/userguide/how_snapshots_work.html). moto 5.2.1's EBS
direct APIs know only the snapshots StartSnapshot made: every other snapshot "does not exist".

moto's volumes hold no data, and nothing writes to them, so a volume's data is what it was created from:
- a volume created from a snapshot (CreateVolume, or a launch's block device mapping) holds that
  snapshot's blocks (a snapshot StartSnapshot wrote, or one of the snapshots below);
- any other volume (empty, or from a snapshot without data, such as moto's AMI snapshots) has none;
- CreateSnapshot (and CreateSnapshots) of a volume holds the volume's blocks; CopySnapshot the source's.
Each keeps its own reference to the blocks in the block store (block_store.py): deleting the source
snapshot or volume later leaves the copy whole, as on AWS. A volume gives its references back when it
is deleted (or, when moto drops it another way, when it is garbage collected); a snapshot when it is
deleted (ebs_direct.release_snapshot_blocks).

The EBS direct view of an EC2-made snapshot is an EBSSnapshot like StartSnapshot's, already sealed
(PutSnapshotBlock and CompleteSnapshot treat it as a completed snapshot), readable once EC2 reports
the snapshot `completed` (snapshot_completion.require_completed). Snapshots shared by another account
are not readable through the EBS direct APIs here: only the account's own.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from typing import Any

from . import ebs_direct

_views_lock = threading.Lock()
# Digests whose references dropped volumes gave back, released at the next safe moment: a finalizer
# runs inside whatever the garbage collector interrupted, perhaps inside the block store's lock, so it
# only queues (deque.extend takes no lock).
_released_later: deque[bytes] = deque()


def _ebs_backend(account_id: str, region: str) -> Any:
    from moto.ebs.models import ebs_backends

    return ebs_backends[account_id][region]


def _retained_copy(blocks: dict[str, Any], new_tokens: bool) -> dict[str, Any]:
    """An index of the same stored bytes, each referenced once more: for a snapshot, new entries (its
    own block tokens); for a volume, which lists no blocks, the same entry objects (less memory).
    Called under ebs_direct._index_lock, so a source snapshot cannot release its blocks meanwhile."""
    store = ebs_direct.block_store()
    copy = {}
    for index, block in blocks.items():
        if store.retain(block.digest):
            copy[index] = ebs_direct.StoredBlock(block.digest, block.checksum, block.length) if new_tokens else block
    return copy


def _release_later(digests: list[bytes]) -> None:
    _released_later.extend(digests)


def release_dropped_volumes() -> None:
    """Gives back the block references of the volumes deleted or garbage collected since the last call."""
    store = ebs_direct.block_store()
    while True:
        try:
            digest = _released_later.popleft()
        except IndexError:
            return
        store.release(digest)


def snapshot_blocks(ec2_snapshot: Any, new_tokens: bool) -> dict[str, Any]:
    """A retained copy of the blocks an EC2 snapshot (own or shared) holds; {} when it holds none."""
    from moto.ebs.models import ebs_backends

    backend = ec2_snapshot.ec2_backend
    regions = dict.get(ebs_backends, backend.account_id)
    ebs = dict.get(regions, backend.region_name) if regions is not None else None
    view = ebs.snapshots.get(ec2_snapshot.id) if ebs is not None else None
    if view is None:
        return {}
    with ebs_direct._index_lock:
        return _retained_copy(view.blocks, new_tokens) if not getattr(view, "released", False) else {}


def _register_view(ec2_snapshot: Any, blocks: dict[str, Any]) -> Any:
    """The EBS direct view of an EC2-made snapshot, holding `blocks` (already retained)."""
    from moto.ebs.models import EBSSnapshot

    backend = ec2_snapshot.ec2_backend
    view = EBSSnapshot(account_id=backend.account_id, snapshot=ec2_snapshot)
    view.block_size = ebs_direct.BLOCK_SIZE
    view.ec2_snapshot = ec2_snapshot
    view.status = "completed"  # not writable: PutSnapshotBlock wants a pending snapshot
    view.ec2restore_sealed = True  # CompleteSnapshot changes nothing (snapshot_completion.already_sealed)
    view.blocks = blocks
    with _views_lock:
        return _ebs_backend(backend.account_id, backend.region_name).snapshots.setdefault(ec2_snapshot.id, view)


def ebs_snapshot(account_id: str, region: str, snapshot_id: str) -> Any:
    """The snapshot an EBS direct request names, among the account's own: one StartSnapshot made, or
    the view of one EC2 made (a snapshot without data gets an empty view on first use)."""
    view = _ebs_backend(account_id, region).snapshots.get(snapshot_id)
    if view is not None:
        return view
    from moto.ec2.models import ec2_backends

    ec2_snapshot = ec2_backends[account_id][region].snapshots.get(snapshot_id)
    if ec2_snapshot is None:
        raise ebs_direct.snapshot_not_found(snapshot_id)
    return _register_view(ec2_snapshot, {})


def install() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend

    original_create_volume = EBSBackend.create_volume
    original_delete_volume = EBSBackend.delete_volume
    original_create_snapshot = EBSBackend.create_snapshot
    original_copy_snapshot = EBSBackend.copy_snapshot

    def create_volume(self: Any, *args: Any, **kwargs: Any) -> Any:
        release_dropped_volumes()
        volume = original_create_volume(self, *args, **kwargs)
        if volume.snapshot_id:
            blocks = snapshot_blocks(self.get_snapshot(volume.snapshot_id), new_tokens=False)
            if blocks:
                volume.ec2restore_blocks = blocks
                digests = [block.digest for block in blocks.values()]
                volume.ec2restore_release = weakref.finalize(volume, _release_later, digests)
        return volume

    def delete_volume(self: Any, volume_id: str) -> Any:
        volume = original_delete_volume(self, volume_id)
        release = getattr(volume, "ec2restore_release", None)
        if release is not None:
            release()  # now rather than at garbage collection; a finalizer runs once
        release_dropped_volumes()
        return volume

    def create_snapshot(self: Any, volume_id: str, *args: Any, **kwargs: Any) -> Any:
        snapshot = original_create_snapshot(self, volume_id, *args, **kwargs)
        blocks = getattr(snapshot.volume, "ec2restore_blocks", None)
        if blocks:
            with ebs_direct._index_lock:
                _register_view(snapshot, _retained_copy(blocks, new_tokens=True))
        return snapshot

    def copy_snapshot(self: Any, source_snapshot_id: str, source_region: str, *args: Any, **kwargs: Any) -> Any:
        from moto.ec2.models import ec2_backends

        copy = original_copy_snapshot(self, source_snapshot_id, source_region, *args, **kwargs)
        source = ec2_backends[self.account_id][source_region or self.region_name].get_snapshot(source_snapshot_id)
        blocks = snapshot_blocks(source, new_tokens=True)
        if blocks:
            _register_view(copy, blocks)
        return copy

    EBSBackend.create_volume = create_volume
    EBSBackend.delete_volume = delete_volume
    EBSBackend.create_snapshot = create_snapshot
    EBSBackend.copy_snapshot = copy_snapshot
