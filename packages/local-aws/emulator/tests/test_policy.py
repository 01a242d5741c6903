"""Unit tests of the resource-policy evaluator (python3 -m unittest discover -s tests, from emulator/)."""

import json
import unittest

from ec2restore_emulator.identity import Principal
from ec2restore_emulator.policy import evaluate, evaluate_identity, role_arn_matches_grantee

ROOT_A = Principal("111122223333", "arn:aws:iam::111122223333:root")
SESSION_A = Principal(
    "111122223333",
    "arn:aws:sts::111122223333:assumed-role/Restore/s1",
    "arn:aws:iam::111122223333:role/Restore",
)
ROOT_B = Principal("444455556666", "arn:aws:iam::444455556666:root")


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal, action, **extra):
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **extra}


class EvaluateTest(unittest.TestCase):
    def test_account_root_principal_covers_every_principal_of_that_account_only(self):
        p = policy(allow({"AWS": "arn:aws:iam::111122223333:root"}, "kms:*"))
        self.assertTrue(evaluate(p, ROOT_A, "kms:Decrypt", {}).allowed)
        self.assertTrue(evaluate(p, SESSION_A, "kms:Decrypt", {}).allowed)
        self.assertFalse(evaluate(p, ROOT_B, "kms:Decrypt", {}).allowed)

    def test_bare_account_id_means_the_account(self):
        p = policy(allow({"AWS": ["444455556666"]}, "kms:Decrypt"))
        self.assertTrue(evaluate(p, ROOT_B, "kms:Decrypt", {}).allowed)
        self.assertFalse(evaluate(p, ROOT_A, "kms:Decrypt", {}).allowed)

    def test_role_arn_matches_its_sessions_not_the_account_root(self):
        p = policy(allow({"AWS": "arn:aws:iam::111122223333:role/Restore"}, "kms:Decrypt"))
        self.assertTrue(evaluate(p, SESSION_A, "kms:Decrypt", {}).allowed)
        self.assertFalse(evaluate(p, ROOT_A, "kms:Decrypt", {}).allowed)

    def test_explicit_deny_wins(self):
        p = policy(
            allow("*", "kms:*"),
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"},
        )
        decision = evaluate(p, ROOT_A, "kms:Decrypt", {})
        self.assertFalse(decision.allowed)
        self.assertTrue(decision.explicit_deny)
        self.assertTrue(evaluate(p, ROOT_A, "kms:Encrypt", {}).allowed)

    def test_action_wildcards_are_case_insensitive(self):
        p = policy(allow("*", ["kms:ReEncrypt*", "kms:generatedatakey*"]))
        for action in ("kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext"):
            self.assertTrue(evaluate(p, ROOT_A, action, {}).allowed, action)
        self.assertFalse(evaluate(p, ROOT_A, "kms:Decrypt", {}).allowed)

    def test_not_action(self):
        p = policy({"Effect": "Allow", "Principal": "*", "NotAction": "kms:ScheduleKeyDeletion", "Resource": "*"})
        self.assertTrue(evaluate(p, ROOT_A, "kms:Decrypt", {}).allowed)
        self.assertFalse(evaluate(p, ROOT_A, "kms:ScheduleKeyDeletion", {}).allowed)

    def test_star_principal_with_caller_account_and_via_service(self):
        p = policy(
            allow(
                {"AWS": "*"},
                "kms:Decrypt",
                Condition={
                    "StringEquals": {
                        "kms:CallerAccount": "111122223333",
                        "kms:ViaService": "ec2.eu-west-1.amazonaws.com",
                    }
                },
            )
        )
        via_ec2 = {"kms:CallerAccount": "111122223333", "kms:ViaService": "ec2.eu-west-1.amazonaws.com"}
        self.assertTrue(evaluate(p, SESSION_A, "kms:Decrypt", via_ec2).allowed)
        self.assertFalse(evaluate(p, SESSION_A, "kms:Decrypt", {"kms:CallerAccount": "111122223333"}).allowed)
        self.assertFalse(evaluate(p, ROOT_B, "kms:Decrypt", {**via_ec2, "kms:CallerAccount": "444455556666"}).allowed)

    def test_condition_keys_are_case_insensitive_and_bool_compares_text(self):
        p = policy(allow("*", "kms:CreateGrant", Condition={"Bool": {"KMS:GrantIsForAWSResource": "true"}}))
        self.assertTrue(evaluate(p, ROOT_A, "kms:CreateGrant", {"kms:GrantIsForAWSResource": "true"}).allowed)
        self.assertFalse(evaluate(p, ROOT_A, "kms:CreateGrant", {"kms:GrantIsForAWSResource": "false"}).allowed)
        self.assertFalse(evaluate(p, ROOT_A, "kms:CreateGrant", {}).allowed)

    def test_missing_keys_negated_operators_if_exists_and_null(self):
        not_equals = policy(allow("*", "kms:Decrypt", Condition={"StringNotEquals": {"kms:ViaService": "x"}}))
        self.assertTrue(evaluate(not_equals, ROOT_A, "kms:Decrypt", {}).allowed)
        if_exists = policy(allow("*", "kms:Decrypt", Condition={"StringEqualsIfExists": {"kms:ViaService": "x"}}))
        self.assertTrue(evaluate(if_exists, ROOT_A, "kms:Decrypt", {}).allowed)
        self.assertFalse(evaluate(if_exists, ROOT_A, "kms:Decrypt", {"kms:ViaService": "y"}).allowed)
        null = policy(allow("*", "kms:Decrypt", Condition={"Null": {"kms:ViaService": "true"}}))
        self.assertTrue(evaluate(null, ROOT_A, "kms:Decrypt", {}).allowed)
        self.assertFalse(evaluate(null, ROOT_A, "kms:Decrypt", {"kms:ViaService": "x"}).allowed)

    def test_for_all_values_every_value_must_match_for_any_value_one(self):
        # A CreateGrant limited to the grant's operations (kms:GrantOperations is multivalued).
        ops = ["Decrypt", "DescribeKey"]
        for_all = policy(allow("*", "kms:CreateGrant", Condition={"ForAllValues:StringEquals": {"kms:GrantOperations": ops}}))
        self.assertTrue(evaluate(for_all, ROOT_A, "kms:CreateGrant", {"kms:GrantOperations": ["Decrypt"]}).allowed)
        self.assertFalse(
            evaluate(for_all, ROOT_A, "kms:CreateGrant", {"kms:GrantOperations": ["Decrypt", "Encrypt"]}).allowed
        )
        self.assertTrue(evaluate(for_all, ROOT_A, "kms:CreateGrant", {}).allowed)
        for_any = policy(allow("*", "kms:CreateGrant", Condition={"ForAnyValue:StringEquals": {"kms:GrantOperations": ops}}))
        self.assertTrue(evaluate(for_any, ROOT_A, "kms:CreateGrant", {"kms:GrantOperations": ["Decrypt", "Encrypt"]}).allowed)
        self.assertFalse(evaluate(for_any, ROOT_A, "kms:CreateGrant", {}).allowed)

    def test_string_like_and_external_id(self):
        p = policy(
            allow(
                {"AWS": "arn:aws:iam::444455556666:root"},
                "sts:AssumeRole",
                Condition={"StringLike": {"sts:ExternalId": "restore-*"}},
            )
        )
        self.assertTrue(evaluate(p, ROOT_B, "sts:AssumeRole", {"sts:ExternalId": "restore-42"}).allowed)
        self.assertFalse(evaluate(p, ROOT_B, "sts:AssumeRole", {"sts:ExternalId": "other"}).allowed)
        self.assertFalse(evaluate(p, ROOT_B, "sts:AssumeRole", {}).allowed)

    def test_unknown_operator_fails_closed_and_bad_json_denies(self):
        p = policy(allow("*", "kms:Decrypt", Condition={"NumericLessThan": {"kms:ViaService": "1"}}))
        self.assertFalse(evaluate(p, ROOT_A, "kms:Decrypt", {"kms:ViaService": "0"}).allowed)
        self.assertFalse(evaluate("{not json", ROOT_A, "kms:Decrypt", {}).allowed)

    def test_service_principal_never_matches_a_caller(self):
        p = policy(allow({"Service": "ec2.amazonaws.com"}, "kms:*"))
        self.assertFalse(evaluate(p, ROOT_A, "kms:Decrypt", {}).allowed)


class GranteeTest(unittest.TestCase):
    def test_grantee_forms(self):
        self.assertTrue(role_arn_matches_grantee("arn:aws:iam::111122223333:role/Restore", SESSION_A))
        self.assertTrue(role_arn_matches_grantee("arn:aws:iam::111122223333:root", SESSION_A))
        self.assertFalse(role_arn_matches_grantee("arn:aws:iam::111122223333:role/Other", SESSION_A))
        self.assertFalse(role_arn_matches_grantee("arn:aws:iam::444455556666:root", SESSION_A))


class AllowedDirectlyTest(unittest.TestCase):
    def test_naming_the_role_is_direct_naming_the_account_is_not(self):
        by_role = policy(allow({"AWS": "arn:aws:iam::111122223333:role/Restore"}, "kms:*"))
        by_account = policy(allow({"AWS": "111122223333"}, "kms:*"))
        self.assertTrue(evaluate(by_role, SESSION_A, "kms:Decrypt", {}).allowed_directly)
        decision = evaluate(by_account, SESSION_A, "kms:Decrypt", {})
        self.assertTrue(decision.allowed)
        self.assertFalse(decision.allowed_directly)


VOL = "arn:aws:ec2:eu-west-1:111122223333:volume/vol-0123456789abcdef0"
SNAP = "arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0"


class EvaluateIdentityTest(unittest.TestCase):
    CASES = [
        # (statements, action, resources, allowed, explicit_deny)
        ([{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}], "ec2:CreateVolume", [VOL], True, False),
        ([], "ec2:CreateVolume", [VOL], False, False),
        (
            [
                {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ec2:Delete*", "Resource": "*"},
            ],
            "ec2:DeleteVolume",
            [VOL],
            False,
            True,
        ),
        ([{"Effect": "Allow", "NotAction": "ec2:Delete*", "Resource": "*"}], "ec2:DeleteVolume", [VOL], False, False),
        ([{"Effect": "Allow", "NotAction": "ec2:Delete*", "Resource": "*"}], "ec2:AttachVolume", [VOL], True, False),
        # Every resource must be allowed.
        ([{"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "arn:aws:ec2:*:*:volume/*"}], "ec2:CreateTags", [VOL, SNAP], False, False),
        ([{"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": ["arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*::snapshot/*"]}], "ec2:CreateTags", [VOL, SNAP], True, False),
        ([{"Effect": "Allow", "Action": "ec2:*", "NotResource": "arn:aws:ec2:*::snapshot/*"}], "ec2:DeleteSnapshot", [SNAP], False, False),
        # Conditions use the same operators as resource policies.
        (
            [{"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}],
            "kms:CreateGrant",
            ["*"],
            False,
            False,
        ),
    ]

    def test_table(self):
        for statements, action, resources, allowed, explicit in self.CASES:
            with self.subTest(action=action, statements=statements):
                decision = evaluate_identity([policy(*statements)], action, resources, {})
                self.assertEqual(decision.allowed, allowed)
                self.assertEqual(decision.explicit_deny, explicit)

    def test_condition_context(self):
        doc = policy({"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
        self.assertTrue(evaluate_identity([doc], "kms:CreateGrant", ["*"], {"kms:GrantIsForAWSResource": "true"}).allowed)


if __name__ == "__main__":
    unittest.main()
