"""A new account as AWS shows it, without the set-up work moto does per account that nobody reads:
the public image catalogue is the same in every account (built once per region, public_images.py), its
snapshots are completed from the start (snapshot_completion.py), and KMS keys work whether or not
moto's unused private key was made (moto_speed.py)
(python3 -m unittest discover -s tests -t ., from emulator/)."""

import base64
import gc
import json
import os
import threading
import unittest
import urllib.request
import weakref

import boto3

from tests import emulator_server


class AccountSetupTest(unittest.TestCase):
    def test_public_images_snapshots_are_completed_at_the_first_look(self) -> None:
        ec2 = emulator_server.client("ec2", "712345678911")
        emulator_server.endpoint()
        threads_before = threading.active_count()
        # A `pending` window longer than the test: a catalogue snapshot given one would still be in it.
        os.environ["EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS"] = "60000"
        self.addCleanup(os.environ.pop, "EC2RESTORE_EMULATOR_SNAPSHOT_COMPLETING_MS")
        images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-*"]}])["Images"]
        self.assertTrue(images, "the catalogue has Amazon Linux 2023 images")
        snapshot_ids = [m["Ebs"]["SnapshotId"] for image in images for m in image["BlockDeviceMappings"] if "Ebs" in m]
        self.assertTrue(snapshot_ids)
        self.assertTrue(all(image["State"] == "available" for image in images))
        snapshots = ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]
        self.assertEqual({s["State"] for s in snapshots}, {"completed"})
        # The account's ~1,165 catalogue snapshots start no timer of their own (a `pending` window each).
        self.assertLess(threading.active_count() - threads_before, 50)

    def test_every_account_sees_the_same_catalogue_and_the_first_one_can_be_forgotten(self) -> None:
        from moto.ec2.models import ec2_backends

        region = "ap-southeast-2"  # used by no other test here: its catalogue is built from `first`
        first, second = "712345678913", "712345678914"
        seen = []
        for account in (first, second):
            ec2 = boto3.client(
                "ec2", endpoint_url=emulator_server.endpoint(), region_name=region,
                aws_access_key_id=f"AKIAEMU0{account}", aws_secret_access_key="unused",
            )
            images = ec2.describe_images(Owners=["amazon"])["Images"]
            seen.append(sorted((i["ImageId"], i["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"], i["PlatformDetails"], i["BootMode"]) for i in images))
        self.assertGreater(len(seen[0]), 100)
        self.assertEqual(seen[0], seen[1])
        backend = weakref.ref(ec2_backends[first][region])
        request = urllib.request.Request(
            f"{emulator_server.endpoint()}/ec2restore-test-only/forget-accounts",
            data=json.dumps({"accountIds": [first]}).encode(), method="POST",
        )
        with urllib.request.urlopen(request) as response:
            self.assertEqual(response.status, 200)
        gc.collect()
        self.assertIsNone(backend(), "the catalogue copies keep the first account's EC2 backend alive")

    def test_symmetric_and_asymmetric_keys_work(self) -> None:
        kms = emulator_server.client("kms", "712345678912")
        symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
        sealed = kms.encrypt(KeyId=symmetric, Plaintext=b"block key")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=sealed)["Plaintext"], b"block key")
        signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
        signature = kms.sign(KeyId=signing, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
        verified = kms.verify(KeyId=signing, Message=b"m", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256")
        self.assertTrue(verified["SignatureValid"])
        self.assertGreater(len(base64.b64encode(kms.get_public_key(KeyId=signing)["PublicKey"])), 300)


if __name__ == "__main__":
    unittest.main()
