"""The test-only forget-accounts path (ec2restore_emulator/test_only.py): a forgotten account's objects are
freed, other accounts keep theirs (python3 -m unittest discover -s tests, from emulator/)."""

import base64
import gc
import hashlib
import json
import os
import unittest
import urllib.error
import urllib.request
import weakref

from tests import emulator_server

REGION = emulator_server.REGION


class ForgetAccountsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.endpoint = emulator_server.endpoint()

    def client(self, service: str, account_id: str):  # type: ignore[no-untyped-def]
        return emulator_server.client(service, account_id)

    def forget(self, body: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.endpoint}/ec2restore-test-only/forget-accounts", data=body, method="POST"
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def test_a_forgotten_account_is_freed_and_others_keep_theirs(self) -> None:
        from moto.ebs.models import ebs_backends
        from moto.ec2.models import ec2_backends

        from ec2restore_emulator.ebs_direct import block_store

        gone, kept = "412345678901", "412345678902"
        ec2 = self.client("ec2", gone)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
        ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
        key = self.client("kms", gone).create_key()["KeyMetadata"]["Arn"]
        ebs = self.client("ebs", gone)
        snapshot_id = ebs.start_snapshot(VolumeSize=1, Encrypted=True, KmsKeyArn=key)["SnapshotId"]
        data = os.urandom(512 * 1024)
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        ebs.put_snapshot_block(
            SnapshotId=snapshot_id, BlockIndex=0, BlockData=data, DataLength=len(data),
            Checksum=checksum, ChecksumAlgorithm="SHA256",
        )
        bucket = f"forget-test-{gone}"
        self.client("s3", gone).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        kept_volume = self.client("ec2", kept).create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
        blocks_before = block_store().stats()["distinctBlocks"]
        ec2_backend = weakref.ref(ec2_backends[gone][REGION])
        ebs_snapshot = weakref.ref(ebs_backends[gone][REGION].snapshots[snapshot_id])

        status, body = self.forget(json.dumps({"accountIds": [gone]}).encode())

        self.assertEqual(status, 200, body)
        self.assertEqual(body["forgotten"][gone]["ebsDirectSnapshots"], 1)
        gc.collect()
        self.assertIsNone(ec2_backend(), "the forgotten account's EC2 backend is still referenced")
        self.assertIsNone(ebs_snapshot(), "the forgotten account's EBS direct snapshot is still referenced")
        self.assertEqual(block_store().stats()["distinctBlocks"], blocks_before - 1)
        # Used again, the account starts empty; the other account keeps its volume; the bucket name is free.
        self.assertEqual(self.client("ec2", gone).describe_volumes()["Volumes"], [])
        volumes = self.client("ec2", kept).describe_volumes()["Volumes"]
        self.assertEqual([v["VolumeId"] for v in volumes], [kept_volume])
        self.client("s3", kept).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})

    def test_a_body_without_account_ids_is_refused(self) -> None:
        for body in (b"{}", b'{"accountIds": ["12345"]}', b"not json"):
            status, answer = self.forget(body)
            self.assertEqual(status, 400, body)
            self.assertIn("accountIds", answer["message"])


if __name__ == "__main__":
    unittest.main()
