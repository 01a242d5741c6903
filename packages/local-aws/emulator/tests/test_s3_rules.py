"""S3 requests of a role session are decided by its identity policies (ec2restore_emulator/s3_rules.py)
(python3 -m unittest discover -s tests -t ., from emulator/)."""

import json
import unittest

from botocore.exceptions import ClientError

from ec2restore_emulator.s3_rules import request_context, s3_resource
from tests import emulator_server

ACCOUNT = "612345678901"
BUCKET = "s3-rules-test"


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class S3IdentityPoliciesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.root = emulator_server.client("s3", ACCOUNT)
        cls.root.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": emulator_server.REGION})
        cls.root.put_object(Bucket=BUCKET, Key="repo/manifest", Body=b"m")
        cls.iam = emulator_server.client("iam", ACCOUNT)
        trust = document(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        )
        cls.iam.create_role(RoleName="reader", AssumeRolePolicyDocument=trust)
        credentials = emulator_server.client("sts", ACCOUNT).assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader", RoleSessionName="unit"
        )["Credentials"]
        cls.session = emulator_server.client(
            "s3",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        cls.session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/unit"

    def allow(self, *statements: dict) -> None:
        self.iam.put_role_policy(RoleName="reader", PolicyName="identity", PolicyDocument=document(*statements))

    def refused(self, call) -> ClientError:  # type: ignore[no-untyped-def]
        with self.assertRaises(ClientError) as raised:
            call()
        self.assertEqual(raised.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        return raised.exception

    def test_each_operation_needs_its_action_on_its_arn(self) -> None:
        self.allow({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"})
        error = self.refused(lambda: self.session.get_object(Bucket=BUCKET, Key="repo/manifest"))
        self.assertEqual(error.response["Error"]["Code"], "AccessDenied")
        self.assertEqual(
            error.response["Error"]["Message"],
            f"User: {self.session_arn} is not authorized to perform: s3:GetObject on resource: "
            f'"arn:aws:s3:::{BUCKET}/repo/manifest" because no identity-based policy allows the s3:GetObject action',
        )
        self.refused(lambda: self.session.head_bucket(Bucket=BUCKET))  # HeadBucket is s3:ListBucket
        self.allow({"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": f"arn:aws:s3:::{BUCKET}*"})
        self.assertEqual(self.session.get_object(Bucket=BUCKET, Key="repo/manifest")["Body"].read(), b"m")
        self.session.head_bucket(Bucket=BUCKET)
        self.refused(lambda: self.session.put_object(Bucket=BUCKET, Key="repo/x", Body=b"x"))

    def test_a_missing_key_is_no_such_key_only_with_list_bucket(self) -> None:
        self.allow({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"})
        error = self.refused(lambda: self.session.get_object(Bucket=BUCKET, Key="repo/none"))
        self.assertIn("s3:ListBucket", error.response["Error"]["Message"])
        self.refused(lambda: self.session.head_object(Bucket=BUCKET, Key="repo/none"))
        self.allow(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
        )
        with self.assertRaises(ClientError) as raised:
            self.session.get_object(Bucket=BUCKET, Key="repo/none")
        self.assertEqual(raised.exception.response["Error"]["Code"], "NoSuchKey")

    def test_the_bucket_policy_allows_another_account_and_a_role_it_names(self) -> None:
        other = emulator_server.client("s3", "612345678909")
        bucket = "s3-rules-shared"
        self.root.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": emulator_server.REGION})
        self.root.put_object(Bucket=bucket, Key="repo/m", Body=b"m")
        error = self.refused(lambda: other.get_object(Bucket=bucket, Key="repo/m"))
        self.assertEqual(error.response["Error"]["Message"], "Access Denied")  # no detail across accounts
        self.allow({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::none"})  # nothing here
        self.refused(lambda: self.session.get_object(Bucket=bucket, Key="repo/m"))
        role = f"arn:aws:iam::{ACCOUNT}:role/reader"
        self.root.put_bucket_policy(
            Bucket=bucket,
            Policy=document(
                {"Effect": "Allow", "Principal": {"AWS": ["612345678909", role]}, "Action": "s3:GetObject",
                 "Resource": f"arn:aws:s3:::{bucket}/repo/*"},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/locked/*"},
            ),
        )
        self.assertEqual(other.get_object(Bucket=bucket, Key="repo/m")["Body"].read(), b"m")
        self.assertEqual(self.session.get_object(Bucket=bucket, Key="repo/m")["Body"].read(), b"m")
        self.root.put_object(Bucket=bucket, Key="locked/m", Body=b"m")
        error = self.refused(lambda: self.session.get_object(Bucket=bucket, Key="locked/m"))
        self.assertIn("with an explicit deny in a resource-based policy", error.response["Error"]["Message"])

    def test_the_account_root_user_is_not_subject_to_identity_policies(self) -> None:
        self.root.put_object(Bucket=BUCKET, Key="root/x", Body=b"x")
        self.assertEqual(self.root.get_object(Bucket=BUCKET, Key="root/x")["Body"].read(), b"x")


class S3RequestShapeTest(unittest.TestCase):
    def test_resources_are_bucket_and_object_arns(self) -> None:
        self.assertEqual(s3_resource("b", None), "arn:aws:s3:::b")
        self.assertEqual(s3_resource("b", "k/1"), "arn:aws:s3:::b/k/1")
        self.assertEqual(s3_resource(None, None), "*")

    def test_list_condition_keys_come_from_the_request(self) -> None:
        context = request_context({"prefix": ["repo/"], "delimiter": ["/"]}, "eu-west-1", "111122223333")
        self.assertEqual(context["s3:prefix"], "repo/")
        self.assertEqual(context["s3:delimiter"], "/")
        self.assertEqual(context["s3:ResourceAccount"], "111122223333")
        self.assertNotIn("s3:max-keys", context)


if __name__ == "__main__":
    unittest.main()
