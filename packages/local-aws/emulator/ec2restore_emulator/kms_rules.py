"""KMS: key policies and grants enforced on use, keys of other accounts, AWS-managed keys.

moto 5.2.1 looks up a key only in the caller's own account (NotFoundException for another
account's key ARN) and checks a key policy only for an explicit Deny on DescribeKey.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from moto.core.exceptions import JsonRESTError

from .identity import Principal, current_caller, principal_for_access_key
from .policy import evaluate, role_arn_matches_grantee

AWS_MANAGED_ALIAS_PREFIX = "alias/aws/"

# While a KMS request works on a key of another account, moto's `kms_backend` must be that
# account's backend; set per request (contextvars are per thread under werkzeug's threaded server).
_backend_override: contextvars.ContextVar[Any] = contextvars.ContextVar("kms_backend_override", default=None)


class KmsAccessDenied(JsonRESTError):
    """AWS's message shape, e.g. "User: arn:aws:sts::111122223333:assumed-role/R/s is not authorized
    to perform: kms:Decrypt on resource: arn:aws:kms:...:key/... because no resource-based policy
    allows the kms:Decrypt action" (https://docs.aws.amazon.com/kms/latest/developerguide/
    troubleshooting-key-policy.html); with "with an explicit deny in a resource-based policy" when a
    Deny statement matched."""

    code = 400

    def __init__(
        self, caller: Principal, action: str, key_arn: str, explicit_deny: bool, policy_type: str = "resource-based"
    ):
        reason = (
            f"with an explicit deny in a {policy_type} policy"
            if explicit_deny
            else f"because no {policy_type} policy allows the {action} action"
        )
        super().__init__(
            "AccessDeniedException",
            f"User: {caller.arn} is not authorized to perform: {action} on resource: {key_arn} {reason}",
        )


class KmsKeyStateError(JsonRESTError):
    """https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html: cryptographic
    operations on a disabled key fail with DisabledException, on a key pending deletion with
    KMSInvalidStateException."""

    code = 400

    def __init__(self, key: Any):
        if key.key_state == "PendingDeletion":
            super().__init__("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        else:
            super().__init__("DisabledException", f"{key.arn} is disabled.")


def kms_backend_for(account_id: str, region: str) -> Any:
    from moto.kms.models import kms_backends

    return kms_backends[account_id][region]


def find_key(key_id: str | None, caller_account: str, region: str) -> Any | None:
    """The key `key_id` names for a caller of `caller_account`, or None.

    A key id or alias name is looked up in the caller's account; a key ARN or alias ARN in the
    account and region of the ARN: "To specify a KMS key in a different AWS account, you must use
    its key ARN or alias ARN" (https://docs.aws.amazon.com/kms/latest/developerguide/
    key-policy-modifying-external-accounts.html)."""
    if not key_id:
        return None
    account, key_region = caller_account, region
    if key_id.startswith("arn:"):
        parts = key_id.split(":", 5)
        if len(parts) < 6:
            return None
        key_region, account = parts[3], parts[4]
    try:
        backend = kms_backend_for(account, key_region)
        return backend.describe_key(key_id)
    except Exception:  # noqa: BLE001 - moto raises KeyError/AttributeError for unknown ids
        return None


def key_arn_for(key_id: str | None, caller_account: str, region: str) -> str | None:
    """The key ARN AWS reports for a KmsKeyId given as key id, alias or ARN (None when unknown)."""
    key = find_key(key_id, caller_account, region)
    return key.arn if key is not None else None


def is_aws_managed(key: Any) -> bool:
    return getattr(key, "key_manager", "CUSTOMER") == "AWS"


def may_use_key(
    caller: Principal,
    key: Any,
    action: str,
    via_service: str | None = None,
    grant_for_aws_resource: bool | None = None,
    grant_tokens: list[str] | None = None,
    request_context: dict[str, Any] | None = None,
) -> tuple[bool, bool, str]:
    """(allowed, explicit_deny, policy type that refused) for `caller` doing `action` (e.g.
    "kms:Decrypt") on `key`.

    An explicit Deny in the key policy or the caller's identity policies wins. Then: "A grant ...
    allows the grantee principal to use the KMS key in the operations the grant names"
    (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html). Else, within the key's
    account, the key policy allows when it names the caller, or names the account and the caller's
    identity policies allow; from another account both the key policy and the identity policies must
    allow (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html)."""
    from .iam_rules import identity_decision

    context: dict[str, Any] = {
        "kms:CallerAccount": caller.account_id,
        "aws:PrincipalAccount": caller.account_id,
        "aws:PrincipalArn": caller.role_arn or caller.arn,
    }
    if via_service:
        context["kms:ViaService"] = via_service
    if grant_for_aws_resource is not None:
        context["kms:GrantIsForAWSResource"] = "true" if grant_for_aws_resource else "false"
    context.update(request_context or {})
    decision = evaluate(key.policy, caller, action, context)
    if decision.explicit_deny:
        return False, True, "resource-based"
    identity = identity_decision(caller, action, [key.arn], context)
    if identity.explicit_deny:
        return False, True, "identity-based"
    operation = action.split(":", 1)[1]
    for grant in list(key.grants.values()):
        if role_arn_matches_grantee(grant.grantee_principal, caller) and operation in (grant.operations or []):
            if grant_is_effective(grant, grant_tokens):
                return True, False, ""
    if not decision.allowed:
        return False, False, "resource-based"
    same_account = key.account_id == caller.account_id
    if same_account and decision.allowed_directly:
        return True, False, ""
    if not identity.allowed:
        return False, False, "identity-based"
    return True, False, ""


def grant_is_effective(grant: Any, grant_tokens: list[str] | None) -> bool:
    """Eventual consistency of grants: replaced by consistency.install (default: effective at once)."""
    return True


# The KMS API methods whose key policy takes part in the decision (gated in install_kms_gate, not by
# iam_rules' generic gate).
KEY_GATED_METHODS: set[str] = set()


def assert_may_use_key(caller: Principal, key: Any, action: str, **kwargs: Any) -> None:
    allowed, explicit_deny, policy_type = may_use_key(caller, key, action, **kwargs)
    if not allowed:
        raise KmsAccessDenied(caller, action, key.arn, explicit_deny, policy_type)


def key_is_usable(key: Any) -> bool:
    return key.key_state == "Enabled"


# --- AWS-managed keys -------------------------------------------------------------------------


def aws_managed_key_policy(alias_name: str, account_id: str, region: str) -> str:
    """The key policy AWS gives an AWS managed key such as aws/ebs: usable by every principal of
    the account only through the service (kms:ViaService), readable by the account
    (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-cmk)."""
    service = alias_name[len(AWS_MANAGED_ALIAS_PREFIX) :]
    service_host = "ec2" if service == "ebs" else service
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": f"auto-{service}-2",
            "Statement": [
                {
                    "Sid": f"Allow access through {service.upper()} for all principals in the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:CreateGrant",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account_id,
                            "kms:ViaService": f"{service_host}.{region}.amazonaws.com",
                        }
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*",
                },
            ],
        }
    )


def install_aws_managed_keys() -> None:
    """KMS DescribeKey reports KeyManager "AWS" for the key behind an `alias/aws/*` alias (moto says
    CUSTOMER). moto creates such keys lazily (alias/aws/ebs on first encrypted volume or first
    use of the alias); we mark them when the alias is attached."""
    from moto.kms.models import KmsBackend

    original_create_alias = KmsBackend.create_alias

    def create_alias(self: Any, target_key_id: str, alias_name: str) -> Any:
        alias = original_create_alias(self, target_key_id, alias_name)
        if alias_name.startswith(AWS_MANAGED_ALIAS_PREFIX):
            key = self.keys[self.get_key_id(target_key_id)]
            key.key_manager = "AWS"
            key.policy = aws_managed_key_policy(alias_name, self.account_id, self.region_name)
            service = alias_name[len(AWS_MANAGED_ALIAS_PREFIX) :].upper()
            key.description = f"Default key that protects my {service} resources when no other key is defined"
        return alias

    KmsBackend.create_alias = create_alias


# --- the KMS API gate ------------------------------------------------------------------------

def _action(method: str) -> str:
    """The IAM action of a KMS API method of moto's KmsResponse: describe_key -> kms:DescribeKey."""
    return "kms:" + "".join(word.capitalize() for word in method.split("_"))


def _by_key_id(*methods: str) -> dict[str, tuple[str, str]]:
    return {method: ("KeyId", _action(method)) for method in methods}


# KMS API method (moto's KmsResponse) -> (request field naming the key, IAM action).
_KEY_USE: dict[str, tuple[str, str]] = {
    **_by_key_id("describe_key", "create_grant", "list_grants", "revoke_grant", "encrypt", "decrypt"),
    **_by_key_id("generate_data_key", "generate_data_key_without_plaintext"),
    "re_encrypt": ("DestinationKeyId", "kms:ReEncryptTo"),
}
# Key management: the key policy decides too, but only within the key's own account ("Cross-account
# use: No" in each API reference); with another account's key ARN moto answers NotFoundException.
_KEY_MANAGEMENT = _by_key_id(
    *("get_key_policy", "put_key_policy", "disable_key", "enable_key", "update_key_description"),
    *("schedule_key_deletion", "cancel_key_deletion", "list_resource_tags", "tag_resource", "untag_resource"),
    *("enable_key_rotation", "disable_key_rotation", "get_key_rotation_status"),
)
# Operations refused on a key that is not Enabled (key-state.html).
_CRYPTOGRAPHIC = {"encrypt", "decrypt", "generate_data_key", "generate_data_key_without_plaintext", "re_encrypt"}


def _replace_param(response: Any, name: str, value: str) -> None:
    """Rewrites one request parameter of a moto JSON-protocol response object before it is read."""
    if getattr(response, "automated_parameter_parsing", False):
        response.params[name] = value
        return
    body = json.loads(response.body) if response.body else {}
    if body.get(name) == value:
        return
    body[name] = value
    response.body = json.dumps(body)


def install_kms_gate() -> None:
    from moto.kms.models import kms_backends
    from moto.kms.responses import KmsResponse

    def kms_backend(self: Any) -> Any:
        override = _backend_override.get()
        return override if override is not None else kms_backends[self.current_account][self.region]

    KmsResponse.kms_backend = property(kms_backend)

    def gate(method_name: str, key_field: str, action: str, same_account_only: bool = False) -> None:
        original = getattr(KmsResponse, method_name)

        def gated(self: Any) -> Any:
            if _backend_override.get() is not None:
                return original(self)  # nested call (GenerateDataKeyWithoutPlaintext -> GenerateDataKey)
            caller = principal_for_access_key(self.get_access_key())
            key = find_key(self._get_param(key_field), self.current_account, self.region)
            if key is None or (same_account_only and key.account_id != self.current_account):
                return original(self)  # moto answers NotFoundException
            grant_tokens = self._get_param("GrantTokens") or None
            # CreateGrant's request keys (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html:
            # kms:GranteePrincipal, kms:GrantOperations), for policies that limit the grants a principal makes.
            request_context = None
            if method_name == "create_grant":
                request_context = {
                    "kms:GranteePrincipal": self._get_param("GranteePrincipal"),
                    "kms:GrantOperations": self._get_param("Operations") or [],
                }
            assert_may_use_key(
                caller,
                key,
                action,
                grant_for_aws_resource=False if method_name == "create_grant" else None,
                grant_tokens=grant_tokens,
                request_context=request_context,
            )
            if method_name == "re_encrypt":
                source = find_key(self._get_param("SourceKeyId"), self.current_account, self.region)
                if source is not None:
                    assert_may_use_key(caller, source, "kms:ReEncryptFrom", grant_tokens=grant_tokens)
            if method_name in _CRYPTOGRAPHIC and not key_is_usable(key):
                raise KmsKeyStateError(key)
            if same_account_only:
                # AWS takes a key id or key ARN here ("Specify the key ID or key ARN of the KMS key",
                # e.g. API_DisableKey.html); moto's backend indexes keys by id only and answers an ARN
                # with an HTML 500. Hand moto the key id.
                _replace_param(self, key_field, key.id)
            token = _backend_override.set(kms_backend_for(key.account_id, key.region))
            try:
                return original(self)
            finally:
                _backend_override.reset(token)

        gated.__name__ = method_name
        setattr(KmsResponse, method_name, gated)

    KEY_GATED_METHODS.update(_KEY_USE, _KEY_MANAGEMENT, {"retire_grant"})
    for method_name, (key_field, action) in _KEY_USE.items():
        gate(method_name, key_field, action)
    for method_name, (key_field, action) in _KEY_MANAGEMENT.items():
        gate(method_name, key_field, action, same_account_only=True)

    original_retire = KmsResponse.retire_grant

    def retire_grant(self: Any) -> Any:
        """RetireGrant by GrantToken alone finds the grant in any account: the grantee (or the
        retiring principal) retires a grant on a key of another account
        (https://docs.aws.amazon.com/kms/latest/APIReference/API_RetireGrant.html)."""
        token_value = self._get_param("GrantToken")
        if not token_value or self._get_param("KeyId"):
            return original_retire(self)
        caller = principal_for_access_key(self.get_access_key())
        for account_id in list(kms_backends.keys()):
            backend = dict.get(kms_backends[account_id], self.region)
            if backend is None:
                continue
            for key in list(backend.keys.values()):
                for grant in list(key.grants.values()):
                    if grant.token != token_value:
                        continue
                    # "You can retire a grant if you are the retiring principal, the grantee
                    # principal when the grant includes RetireGrant, or the account that
                    # created the grant" (API_RetireGrant.html).
                    if not (
                        role_arn_matches_grantee(grant.retiring_principal or "", caller)
                        or (
                            role_arn_matches_grantee(grant.grantee_principal, caller)
                            and "RetireGrant" in (grant.operations or [])
                        )
                        or caller.account_id in (key.account_id, getattr(grant, "creator_account_id", None))
                    ):
                        raise KmsAccessDenied(caller, "kms:RetireGrant", key.arn, False)
                    key.grants.pop(grant.id, None)
                    return "{}"
        return original_retire(self)

    KmsResponse.retire_grant = retire_grant

    from moto.kms.models import Key

    original_add_grant = Key.add_grant

    def add_grant(self: Any, *args: Any, **kwargs: Any) -> Any:
        grant = original_add_grant(self, *args, **kwargs)
        grant.creator_account_id = current_caller().account_id  # who may retire it later
        return grant

    Key.add_grant = add_grant


def install() -> None:
    install_aws_managed_keys()
    install_kms_gate()
