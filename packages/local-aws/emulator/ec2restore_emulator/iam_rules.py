"""IAM identity policies enforced on every EC2, EBS direct, KMS and STS request, and EC2's DryRun
(S3 requests: s3_rules.py, with the same `identity_decision`).

AWS allows a request of an IAM role session (or IAM user) only when its identity policies allow the
action on every resource the request names and no statement denies it; across accounts the
resource's own policy (KMS key policy, role trust policy) must allow it as well
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
The root user of an account (the emulator's AKIAEMU0<account> keys) is not subject to identity
policies.

moto 5.2.1 allows every request unless its opt-in `INITIAL_NO_AUTH_ACTION_COUNT` mode is on, which
also verifies signatures (our emulator-account keys have none) and knows neither KMS key policies
nor cross-account rules; so the emulator evaluates identity policies itself, in front of moto's
request dispatch (BaseResponse.call_action).

Where a resource policy takes part (KMS keys, role trust policies), the decision is made by
kms_rules / sts_rules with `identity_decision` below, because there the resource policy alone may
allow (same account, the caller named by ARN) or both must allow (another account).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import Ec2Error, QueryError, RestJsonError
from .identity import Principal, principal_for_access_key
from .policy import Decision, evaluate_identity

# --- whose policies ---------------------------------------------------------------------------


def _role_documents(role_arn: str) -> list[str] | None:
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4]
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - the role was deleted: its sessions may do nothing
        return None
    documents = list(role.policies.values())
    for managed in list(role.managed_policies.values()):
        documents.append(_managed_document(managed))
    return documents


def _managed_document(managed: Any) -> str:
    for version in managed.versions:
        if version.version_id == managed.default_version_id:
            return version.document
    return "{}"


def _user_documents(user_arn: str) -> list[str] | None:
    from moto.iam.models import iam_backends

    account = user_arn.split(":")[4]
    backend = iam_backends[account]["aws"]
    name = user_arn.rsplit("/", 1)[-1]
    try:
        user = backend.get_user(name)
    except Exception:  # noqa: BLE001
        return None
    documents = list(user.policies.values()) + [_managed_document(m) for m in user.managed_policies.values()]
    for group in backend.get_groups_for_user(name):
        documents.extend(group.policies.values())
        documents.extend(_managed_document(m) for m in group.managed_policies.values())
    return documents


def is_account_root(caller: Principal) -> bool:
    return caller.role_arn is None and caller.arn.endswith(":root")


def identity_documents(caller: Principal) -> list[str] | None:
    """The caller's identity policies; None for the account's root user (no identity policies apply)."""
    if is_account_root(caller):
        return None
    if caller.role_arn:
        return _role_documents(caller.role_arn) or []
    if ":user/" in caller.arn:
        return _user_documents(caller.arn) or []
    return []


def identity_decision(caller: Principal, action: str, resources: list[str], context: dict[str, Any]) -> Decision:
    documents = identity_documents(caller)
    if documents is None:
        return Decision(True, allowed_directly=True)
    full_context = {
        "aws:PrincipalAccount": caller.account_id,
        "aws:PrincipalArn": caller.role_arn or caller.arn,
        **context,
    }
    return evaluate_identity(documents, action, resources, full_context)


def denial_message(caller: Principal, action: str, resource: str, decision: Decision, quoted: bool = False) -> str:
    """AWS's access denied text for an identity policy
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html); S3 puts the
    resource in double quotes (`quoted`)."""
    reason = (
        "with an explicit deny in an identity-based policy"
        if decision.explicit_deny
        else f"because no identity-based policy allows the {action} action"
    )
    shown = f'"{resource}"' if quoted else resource
    return f"User: {caller.arn} is not authorized to perform: {action} on resource: {shown} {reason}"


def _first_refused(caller: Principal, action: str, resources: list[str], context: dict[str, Any]) -> tuple[str, Decision] | None:
    decision = identity_decision(caller, action, resources, context)
    if decision.allowed:
        return None
    for resource in resources:
        single = identity_decision(caller, action, [resource], context)
        if not single.allowed:
            return resource, single
    return resources[0], decision


# --- the resources a request names ------------------------------------------------------------

_EC2_ID = re.compile(r"^(vol|i|snap|ami|subnet|sg|vpc|eni)-[0-9a-f]{8,17}$")
_EC2_TYPE = {
    "vol": "volume",
    "i": "instance",
    "snap": "snapshot",
    "ami": "image",
    "subnet": "subnet",
    "sg": "security-group",
    "vpc": "vpc",
    "eni": "network-interface",
}
# Snapshots and images have no account in their ARN (arn:aws:ec2:<region>::snapshot/<id>), per the
# resource types of https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html.
_NO_ACCOUNT = {"snapshot", "image"}
# What a create action creates: its ARN with `*` stands for the resource not yet made.
_EC2_CREATES = {
    "CreateVolume": "volume",
    "RunInstances": "instance",
    "CreateSnapshot": "snapshot",
    "CopySnapshot": "snapshot",
    "CreateSnapshots": "snapshot",
    "RegisterImage": "image",
    "CreateImage": "image",
    "CopyImage": "image",
}


def ec2_arn(kind: str, resource_id: str, region: str, account: str) -> str:
    return f"arn:aws:ec2:{region}:{'' if kind in _NO_ACCOUNT else account}:{kind}/{resource_id}"


def ec2_resources(action: str, querystring: dict[str, list[str]], region: str, account: str) -> list[str]:
    """Describe*/Get* actions take no resource-level permissions ("*"); other actions are checked
    against the ARN of every resource id the request names and of the resource it creates."""
    if action.startswith(("Describe", "Get")):
        return ["*"]
    resources: list[str] = []
    if action in _EC2_CREATES:
        resources.append(ec2_arn(_EC2_CREATES[action], "*", region, account))
    for key, values in querystring.items():
        if key.startswith("Filter.") or key == "Action":
            continue
        for value in values:
            match = _EC2_ID.match(str(value))
            if match:
                arn = ec2_arn(_EC2_TYPE[match.group(1)], value, region, account)
                if arn not in resources:
                    resources.append(arn)
    return resources or ["*"]


def _kms_resources(response: Any, action: str) -> list[str]:
    from .kms_rules import find_key

    for field in ("KeyId", "TargetKeyId"):
        key_id = response._get_param(field)
        if key_id:
            key = find_key(key_id, response.current_account, response.region)
            if key is not None:
                return [key.arn]
            return [f"arn:aws:kms:{response.region}:{response.current_account}:key/{key_id}"]
    return ["*"]


# --- the gate ---------------------------------------------------------------------------------


class Ec2Unauthorized(Ec2Error):
    """EC2's UnauthorizedOperation, HTTP 403: "You are not authorized to perform this operation."
    followed by the access denied detail
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html#CommonErrors)."""

    def __init__(self, caller: Principal, action: str, resource: str, decision: Decision):
        super().__init__(
            403,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation. " + denial_message(caller, action, resource, decision),
        )


class Ec2DryRunOperation(Ec2Error):
    """"DryRunOperation: The user has the required permissions, so the request would have succeeded,
    but the DryRun parameter was used." HTTP 412
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html#CommonErrors)."""

    def __init__(self) -> None:
        super().__init__(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")


def _kms_denied(caller: Principal, action: str, resource: str, decision: Decision) -> Exception:
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("AccessDeniedException", denial_message(caller, action, resource, decision))
    error.code = 400
    return error


# KMS operations whose key policy takes part: decided in kms_rules (resource policy + identity).
def _kms_decided_elsewhere(method_name: str) -> bool:
    from .kms_rules import KEY_GATED_METHODS

    return method_name in KEY_GATED_METHODS


def refusal_for(response: Any) -> Exception | None:
    """The error AWS answers `response`'s request with before doing anything, or None to go on."""
    from moto.core.utils import camelcase_to_underscores

    service = getattr(response, "service_name", None)
    if service not in ("ec2", "ebs", "kms", "sts"):
        return None
    action = response._get_action()
    if not action:
        return None
    caller = principal_for_access_key(response.get_access_key())
    region = getattr(response, "region", "us-east-1")
    if service == "ec2":
        iam_action = f"ec2:{action}"
        resources = ec2_resources(action, response.querystring, region, caller.account_id)
        refused = _first_refused(caller, iam_action, resources, {"ec2:Region": region, "aws:RequestedRegion": region})
        if refused:
            return Ec2Unauthorized(caller, iam_action, refused[0], refused[1])
        if str((response.querystring.get("DryRun") or ["false"])[0]).lower() == "true":
            # "Checks whether you have the required permissions for the operation, without actually
            # making the request" (every EC2 action's DryRun parameter).
            return Ec2DryRunOperation()
        return None
    if service == "ebs":
        parts = [p for p in response.parsed_url.path.split("/") if p.startswith("snap-")]
        return ebs_direct_refusal(caller, region, action, parts[0] if parts else "*")
    if service == "kms":
        if _kms_decided_elsewhere(camelcase_to_underscores(action)):
            return None
        iam_action = f"kms:{action}"
        resources = _kms_resources(response, action)
        refused = _first_refused(caller, iam_action, resources, {"kms:CallerAccount": caller.account_id})
        if refused:
            return _kms_denied(caller, iam_action, refused[0], refused[1])
        return None
    # STS: GetCallerIdentity needs no permission and cannot be denied
    # (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html); AssumeRole is
    # decided with the trust policy in sts_rules.
    if action in ("GetCallerIdentity", "AssumeRole"):
        return None
    iam_action = f"sts:{action}"
    refused = _first_refused(caller, iam_action, ["*"], {})
    if refused:
        return QueryError(
            403,
            "AccessDenied",
            denial_message(caller, iam_action, "*", refused[1]),
            "https://sts.amazonaws.com/doc/2011-06-15/",
        )
    return None


def ebs_direct_refusal(caller: Principal, region: str, action: str, snapshot_id: str) -> RestJsonError | None:
    """EBS direct actions act on arn:aws:ec2:<region>::snapshot/<id> (snapshot/* for StartSnapshot)
    (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-permissions.html). Also called by the
    data-plane fast path (fast_path.py), which answers the block requests without moto."""
    iam_action = f"ebs:{action}"
    resource = f"arn:aws:ec2:{region}::snapshot/{snapshot_id}"
    refused = _first_refused(caller, iam_action, [resource], {"aws:RequestedRegion": region})
    if not refused:
        return None
    # AccessDeniedException, Reason UNAUTHORIZED_ACCOUNT
    # (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors).
    return RestJsonError(
        403, "AccessDeniedException", denial_message(caller, iam_action, resource, refused[1]), "UNAUTHORIZED_ACCOUNT"
    )


def _as_response(error: Any) -> tuple[int, dict[str, str], str]:
    headers = dict(error.get_headers())
    return error.code, headers, error.get_body()


def install() -> None:
    from moto.core.responses import BaseResponse

    original_call_action = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        error = refusal_for(self)
        if error is not None:
            return _as_response(error)
        return original_call_action(self)

    BaseResponse.call_action = call_action
