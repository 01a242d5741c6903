"""STS: AssumeRole follows the role's trust policy; GetCallerIdentity reports the root user.

moto 5.2.1 lets anyone assume any role ARN, existing or not."""

from __future__ import annotations

import re
from typing import Any

from .errors import QueryError
from .identity import Principal, principal_for_access_key
from .policy import evaluate

_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/")


class AssumeRoleDenied(QueryError):
    """AWS's answer when the role does not exist or its trust policy does not allow the caller
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_roles.html#troubleshoot_roles_cant-assume-role):
    HTTP 403 AccessDenied, "User: <caller arn> is not authorized to perform: sts:AssumeRole on
    resource: <role arn>". AWS gives the same answer for a missing role, so as not to reveal
    which roles exist."""

    def __init__(self, caller: Principal, role_arn: str):
        super().__init__(
            403,
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            "https://sts.amazonaws.com/doc/2011-06-15/",
        )


def find_role(role_arn: str) -> Any | None:
    from moto.iam.models import iam_backends

    match = _ROLE_ARN.match(role_arn or "")
    if not match:
        return None
    try:
        return iam_backends[match.group(1)]["aws"].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto's NotFoundException
        return None


def may_assume(caller: Principal, role: Any, external_id: str | None) -> bool:
    """The trust policy must allow the caller (its account root, account id or ARN): "the trust
    policy ... specifies which principals can assume the role"; a condition on sts:ExternalId must
    match the ExternalId sent (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html).
    The caller's identity policies must allow sts:AssumeRole on the role as well, unless the caller
    is an account's root user or, within the role's account, the trust policy names the caller
    itself (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html)."""
    from .iam_rules import identity_decision

    context: dict[str, Any] = {
        "aws:PrincipalAccount": caller.account_id,
        "aws:PrincipalArn": caller.role_arn or caller.arn,
    }
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    trust = evaluate(role.assume_role_policy_document, caller, "sts:AssumeRole", context)
    if not trust.allowed:
        return False
    identity = identity_decision(caller, "sts:AssumeRole", [role.arn], context)
    if identity.explicit_deny:
        return False
    if trust.allowed_directly and role.account_id == caller.account_id:
        return True
    return identity.allowed


def install() -> None:
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    original_assume_role = TokenResponse.assume_role

    def assume_role(self: Any) -> Any:
        caller = principal_for_access_key(self.get_access_key())
        role_arn = self._get_param("RoleArn")
        role = find_role(role_arn)
        if role is None or not may_assume(caller, role, self._get_param("ExternalId")):
            raise AssumeRoleDenied(caller, role_arn)
        return original_assume_role(self)

    TokenResponse.assume_role = assume_role

    original_identity = STSBackend.get_caller_identity

    def get_caller_identity(self: Any, access_key_id: str, region: str) -> tuple[str, str, str]:
        """Root credentials: Arn arn:aws:iam::<acct>:root and UserId the account id
        (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html)."""
        principal = principal_for_access_key(access_key_id)
        if principal.arn.endswith(":root") and principal.role_arn is None:
            return principal.account_id, principal.arn, principal.account_id
        return original_identity(self, access_key_id, region)

    STSBackend.get_caller_identity = get_caller_identity
