"""IAM identity policies on S3 requests, with S3's own AccessDenied answer.

AWS allows an S3 request of an IAM role session (or IAM user) only when its identity policies allow
the request's action on the bucket's or the object's ARN and no statement denies it
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html names the
action and the resource each operation needs: ListObjectsV2 and HeadBucket need s3:ListBucket on
arn:aws:s3:::<bucket>; GetObject and HeadObject s3:GetObject, PutObject s3:PutObject, DeleteObject
s3:DeleteObject on arn:aws:s3:::<bucket>/<key>). The refusal is HTTP 403 with S3's XML error,
code AccessDenied, whose message names the caller, the action, the resource in quotes and the reason
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html#access-denied-message-examples).

A missing object answers 404 NoSuchKey only to a caller who may list the bucket; to one who may not,
S3 answers 403 AccessDenied, so that the answer does not tell whether the key exists
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and API_HeadObject.html,
"Permissions").

The same evaluator as EC2, EBS direct and KMS decides (iam_rules.identity_decision): the account's root
user (the emulator's AKIAEMU0<account> keys, and keys the emulator does not know) has no identity
policies. The bucket policy takes part as a resource policy (policy.evaluate, with its Resource
matched): an explicit Deny in either refuses; within the bucket's account the identity policy allows,
or the bucket policy naming the caller itself (a policy naming the account leaves it to the identity
policies); from another account both must allow
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-policy-language-overview.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
S3 adds the caller, action and reason to the message only for requests within the bucket's account
(or organization); another account gets "Access Denied" (troubleshoot-403-errors.html, same section).

moto 5.2.1 checks S3 permissions only in its opt-in INITIAL_NO_AUTH_ACTION_COUNT mode (which also
verifies signatures our emulator keys do not have); its hook, S3Response._authenticate_and_authorize_s3_action,
runs in every S3 operation after the operation's name is known, and is where this check runs too.
"""

from __future__ import annotations

from typing import Any

from moto.s3.exceptions import S3ClientError

from .iam_rules import denial_message
from .identity import Principal, principal_for_access_key
from .policy import Decision, evaluate

# moto's operation names (moto.s3.responses.ACTION_MAP) that are not the IAM action of the operation.
_IAM_ACTION = {
    "HeadBucket": "ListBucket",  # HeadBucket needs s3:ListBucket
    "SelectObject": "GetObject",  # SelectObjectContent needs s3:GetObject
}


class S3AccessDenied(S3ClientError):
    """S3's AccessDenied, HTTP 403, in S3's XML error document."""

    code = "AccessDenied"

    def __init__(self, message: str):
        super().__init__("AccessDenied", message)


def s3_denial_message(caller: Principal, action: str, resource: str, decision: Decision) -> str:
    return denial_message(caller, action, resource, decision, quoted=True)


def s3_resource(bucket: str | None, key: str | None) -> str:
    if not bucket:
        return "*"  # ListAllMyBuckets has no resource
    return f"arn:aws:s3:::{bucket}/{key}" if key is not None else f"arn:aws:s3:::{bucket}"


def request_context(querystring: dict[str, list[str]], region: str, bucket_account: str | None) -> dict[str, Any]:
    """Condition keys of an S3 request (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html):
    ListBucket's s3:prefix, s3:delimiter and s3:max-keys when the request has them, and the bucket owner."""
    context: dict[str, Any] = {"aws:RequestedRegion": region}
    for key in ("prefix", "delimiter", "max-keys"):
        if key in querystring:
            context[f"s3:{key}"] = querystring[key][0]
    if bucket_account:
        context["s3:ResourceAccount"] = bucket_account
        context["aws:ResourceAccount"] = bucket_account
    return context


def refusal(
    caller: Principal, moto_action: str, bucket: str | None, key: str | None, context: dict[str, Any]
) -> S3AccessDenied | None:
    from .iam_rules import identity_decision

    action = "s3:" + _IAM_ACTION.get(moto_action, moto_action)
    resource = s3_resource(bucket, key)
    identity = identity_decision(caller, action, [resource], context)
    if moto_action == "CreateBucket":
        # A name another account holds is BucketAlreadyExists (moto's answer), not a question of its policy.
        return None if identity.allowed else S3AccessDenied(s3_denial_message(caller, action, resource, identity))
    policy = _bucket_policy(bucket)
    full_context = {"aws:PrincipalAccount": caller.account_id, "aws:PrincipalArn": caller.role_arn or caller.arn, **context}
    by_bucket = evaluate(policy, caller, action, full_context, resource) if policy else Decision(False)
    owner = context.get("s3:ResourceAccount")
    if owner and owner != caller.account_id:
        if identity.allowed and by_bucket.allowed:
            return None
        return S3AccessDenied("Access Denied")
    if by_bucket.explicit_deny:
        return S3AccessDenied(
            f'User: {caller.arn} is not authorized to perform: {action} on resource: "{resource}" '
            "with an explicit deny in a resource-based policy"
        )
    if identity.allowed or (by_bucket.allowed_directly and not identity.explicit_deny):
        return None
    return S3AccessDenied(s3_denial_message(caller, action, resource, identity))


def _bucket_policy(bucket: str | None) -> str | None:
    from moto.s3.models import s3_backends

    entry = s3_backends.bucket_accounts.get(bucket or "")
    if entry is None:
        return None
    stored = dict.get(dict.get(s3_backends, entry[1]) or {}, entry[0])
    found = stored.buckets.get(bucket) if stored is not None else None
    policy = getattr(found, "policy", None)
    return policy.decode() if isinstance(policy, bytes) else policy


def _bucket_account(bucket: str | None) -> str | None:
    from moto.s3.models import s3_backends

    entry = s3_backends.bucket_accounts.get(bucket or "")
    return entry[1] if entry else None


def _object_exists(response: Any, bucket: str, key: str) -> bool | None:
    """Whether the object exists; None when the bucket does not (moto answers NoSuchBucket)."""
    try:
        response.backend.get_bucket(bucket)
    except S3ClientError:
        return None
    try:
        return response.backend.get_object(bucket, key) is not None
    except S3ClientError:
        return False


def check(response: Any, bucket: str | None, key: str | None) -> None:
    """Raises S3AccessDenied when the caller may not do the request `response` is serving."""
    moto_action = response.data.get("Action")
    if not moto_action:
        return
    caller = principal_for_access_key(response.get_access_key())
    region = getattr(response, "region", "us-east-1")
    context = request_context(response.querystring, region, _bucket_account(bucket))
    denied = refusal(caller, moto_action, bucket, key, context)
    if denied is not None:
        raise denied
    if moto_action == "GetObject" and bucket and key is not None and response.method in ("GET", "HEAD"):
        if _object_exists(response, bucket, key) is False:
            # No such key: NoSuchKey (404) only for a caller with s3:ListBucket, else AccessDenied.
            denied = refusal(caller, "ListBucket", bucket, None, context)
            if denied is not None:
                raise denied


def install() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    # moto applies a bucket policy's Deny of Principal "*" itself, answering 403 without S3's error
    # document; the bucket policy is evaluated in full above instead.
    FakeBucket.get_permission = lambda self, action, resource: PermissionResult.NEUTRAL

    original = S3Response._authenticate_and_authorize_s3_action

    def authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        original(self, bucket_name=bucket_name, key_name=key_name)
        check(self, bucket_name, key_name)

    S3Response._authenticate_and_authorize_s3_action = authorize
