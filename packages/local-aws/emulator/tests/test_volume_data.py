"""EBS direct reads of snapshots EC2 took: a volume holds the blocks of the snapshot it was created
from, its snapshots and their copies hold them too, and the block store frees them with the last
holder (ec2restore_emulator/volume_data.py; python3 -m unittest discover -s tests -t ., from emulator/)."""

import base64
import hashlib
import os
import time
import unittest

from tests import emulator_server

ACCOUNT = "712345678902"
ZONE = f"{emulator_server.REGION}a"
BLOCK = 524288


class VolumeDataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.ec2 = emulator_server.client("ec2", ACCOUNT)
        cls.ebs = emulator_server.client("ebs", ACCOUNT)

    def written_snapshot(self, blocks: dict[int, bytes]) -> str:
        snapshot_id = self.ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
        for index, data in blocks.items():
            checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
            self.ebs.put_snapshot_block(
                SnapshotId=snapshot_id, BlockIndex=index, BlockData=data, DataLength=len(data),
                Checksum=checksum, ChecksumAlgorithm="SHA256",
            )
        self.ebs.complete_snapshot(SnapshotId=snapshot_id, ChangedBlocksCount=len(blocks))
        return self.completed(snapshot_id)

    def completed(self, snapshot_id: str) -> str:
        """Waits until EC2 reports the snapshot `completed` (EBS direct reads only completed ones)."""
        deadline = time.monotonic() + 10
        while self.ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["State"] != "completed":
            self.assertLess(time.monotonic(), deadline, "the snapshot did not complete")
            time.sleep(0.05)
        return snapshot_id

    def read_all(self, snapshot_id: str) -> dict[int, bytes]:
        listed = self.ebs.list_snapshot_blocks(SnapshotId=snapshot_id)
        return {
            b["BlockIndex"]: self.ebs.get_snapshot_block(
                SnapshotId=snapshot_id, BlockIndex=b["BlockIndex"], BlockToken=b["BlockToken"]
            )["BlockData"].read()
            for b in listed["Blocks"]
        }

    def stored(self) -> int:
        from ec2restore_emulator.ebs_direct import block_store

        return block_store().stats()["references"]

    def test_a_snapshot_of_a_volume_from_a_snapshot_outlives_both_and_frees_its_blocks(self) -> None:
        blocks = {0: os.urandom(BLOCK), 7: os.urandom(BLOCK)}
        before = self.stored()
        source = self.written_snapshot(blocks)
        volume = self.ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=source, Size=2)["VolumeId"]
        taken = self.ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
        self.assertEqual(self.ec2.describe_snapshots(SnapshotIds=[taken])["Snapshots"][0]["State"], "pending")
        self.completed(taken)
        self.ec2.delete_snapshot(SnapshotId=source)
        self.ec2.delete_volume(VolumeId=volume)
        self.assertEqual(self.read_all(taken), blocks)
        self.assertEqual(self.ebs.list_snapshot_blocks(SnapshotId=taken)["VolumeSize"], 2)
        copy = self.completed(
            self.ec2.copy_snapshot(SourceSnapshotId=taken, SourceRegion=emulator_server.REGION)["SnapshotId"]
        )
        self.ec2.delete_snapshot(SnapshotId=taken)
        self.assertEqual(self.read_all(copy), blocks)
        self.ec2.delete_snapshot(SnapshotId=copy)
        self.assertEqual(self.stored(), before)

    def test_a_snapshot_of_a_new_volume_has_no_blocks(self) -> None:
        volume = self.ec2.create_volume(AvailabilityZone=ZONE, Size=1)["VolumeId"]
        taken = self.completed(self.ec2.create_snapshot(VolumeId=volume)["SnapshotId"])
        listed = self.ebs.list_snapshot_blocks(SnapshotId=taken)
        self.assertEqual((listed["Blocks"], listed["VolumeSize"], listed["BlockSize"]), ([], 1, BLOCK))

    def test_a_dropped_volume_gives_its_blocks_back_when_collected(self) -> None:
        import gc

        from moto.ec2.models import ec2_backends

        from ec2restore_emulator.volume_data import release_dropped_volumes

        before = self.stored()
        source = self.written_snapshot({1: os.urandom(BLOCK)})
        volume = self.ec2.create_volume(AvailabilityZone=ZONE, SnapshotId=source, Size=1)["VolumeId"]
        self.ec2.delete_snapshot(SnapshotId=source)
        self.assertEqual(self.stored(), before + 1)  # the volume's reference
        # moto drops volumes without DeleteVolume too (a terminated instance's, a forgotten account's).
        ec2_backends[ACCOUNT][emulator_server.REGION].volumes.pop(volume)
        gc.collect()
        release_dropped_volumes()
        self.assertEqual(self.stored(), before)


if __name__ == "__main__":
    unittest.main()
