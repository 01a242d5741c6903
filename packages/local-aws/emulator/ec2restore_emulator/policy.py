"""Evaluation of resource policies (KMS key policies, IAM role trust policies) as AWS does it.

Follows the IAM policy evaluation logic for a resource-based policy
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny in a matching statement wins; else an Allow in a matching statement allows;
else the request is implicitly denied.

A statement matches when its Principal, Action and Condition all match. Supported:
- Principal: "*", {"AWS": "*" | account id | arn:aws:iam::<acct>:root | role ARN | assumed-role
  session ARN | list}. A role ARN matches its sessions (arn:aws:sts::<acct>:assumed-role/<role>/<s>).
  {"Service": ...} never matches a caller of the emulator.
- Action / NotAction with wildcards (`kms:*`, `kms:ReEncrypt*`), case-insensitive like AWS.
- Condition operators StringEquals, StringNotEquals, StringEqualsIgnoreCase, StringLike,
  StringNotLike, Bool, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike, Null, each with the
  `...IfExists` form and the ForAnyValue:/ForAllValues: prefixes (ForAllValues: every value of the key matches).

Account-root principals ("arn:aws:iam::<acct>:root" or "<acct>") mean "delegated to the account's
IAM policies" (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html):
`Decision.allowed_directly` tells the callers (kms_rules, sts_rules) whether an Allow named the
caller itself, so they can ask the caller's identity policies (iam_rules) when it did not.

`evaluate_identity` evaluates IAM identity policies (no Principal element; Resource / NotResource
matched against the request's resource ARNs with the same wildcards).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .identity import Principal

_ROOT_ARN = re.compile(r"^arn:aws:iam::(\d{12}):root$")
_ROLE_ARN = re.compile(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    explicit_deny: bool = False
    # An Allow statement named the caller itself (its ARN, its role's ARN, or "*"), not only its
    # account: within the account the resource policy alone then allows, without IAM policies.
    allowed_directly: bool = False


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard_match(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    # IAM wildcards: `*` any run of characters, `?` one character.
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def principal_match(policy_principal: Any, caller: Principal) -> str | None:
    """How a Principal element matches the caller: "direct" (the caller's ARN, its role's ARN or
    "*"), "account" (the caller's account root or account id), or None."""
    if policy_principal == "*":
        return "direct"
    if not isinstance(policy_principal, dict):
        return None
    how = None
    for entry in _as_list(policy_principal.get("AWS")):
        entry = str(entry)
        if entry == "*" or entry in caller.arns():
            return "direct"
        root = _ROOT_ARN.match(entry)
        if entry == caller.account_id or (root and root.group(1) == caller.account_id):
            how = "account"  # a bare account id means that account's root
    return how


def principal_matches(policy_principal: Any, caller: Principal) -> bool:
    return principal_match(policy_principal, caller) is not None


def _action_matches(statement: dict[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_wildcard_match(str(a), action, False) for a in _as_list(statement["NotAction"]))
    return any(_wildcard_match(str(a), action, False) for a in _as_list(statement.get("Action")))


def _condition_matches(conditions: dict[str, Any], context: dict[str, Any]) -> bool:
    lowered = {k.lower(): v for k, v in context.items()}
    for operator, tests in (conditions or {}).items():
        # ForAllValues: every value of a multivalued key must match (and an absent key matches);
        # ForAnyValue: one must (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
        for_all = operator.startswith("ForAllValues:")
        op = operator.split(":", 1)[-1]  # ForAnyValue:StringEquals -> StringEquals
        if_exists = op.endswith("IfExists")
        if if_exists:
            op = op[: -len("IfExists")]
        for key, expected in tests.items():
            expected_values = [str(v) for v in _as_list(expected)]
            actual = lowered.get(key.lower())
            if op == "Null":
                # Null: "true" means the key must be absent.
                if (actual is None) != (expected_values[0].lower() == "true"):
                    return False
                continue
            if actual is None or (for_all and _as_list(actual) == []):
                # A missing key: negated operators, ...IfExists and ForAllValues match, the others do not.
                if if_exists or for_all or op.startswith(("StringNot", "ArnNot")):
                    continue
                return False
            actual_values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(actual)]
            if for_all:
                if not all(_operator_holds(op, [value], expected_values) for value in actual_values):
                    return False
            elif not _operator_holds(op, actual_values, expected_values):
                return False
    return True


def _operator_holds(op: str, actual: list[str], expected: list[str]) -> bool:
    def any_pair(pred: Any) -> bool:
        return any(pred(a, e) for a in actual for e in expected)

    if op == "StringEquals":
        return any_pair(lambda a, e: a == e)
    if op == "StringNotEquals":
        return not any_pair(lambda a, e: a == e)
    if op == "StringEqualsIgnoreCase":
        return any_pair(lambda a, e: a.lower() == e.lower())
    if op == "StringNotEqualsIgnoreCase":
        return not any_pair(lambda a, e: a.lower() == e.lower())
    if op in ("StringLike", "ArnLike", "ArnEquals"):
        return any_pair(lambda a, e: _wildcard_match(e, a))
    if op in ("StringNotLike", "ArnNotLike", "ArnNotEquals"):
        return not any_pair(lambda a, e: _wildcard_match(e, a))
    if op == "Bool":
        return any_pair(lambda a, e: a.lower() == e.lower())
    # An operator the emulator does not know never matches: fail closed for Allow statements.
    return False


def evaluate(
    policy_json: str | None, caller: Principal, action: str, context: dict[str, Any], resource: str | None = None
) -> Decision:
    """Evaluates one resource policy for `caller` doing `action` with condition `context`; with
    `resource`, only statements whose Resource (NotResource) matches it apply (S3 bucket policies)."""
    allowed = directly = False
    for statement in _statements(policy_json):
        if resource is not None and not _resource_matches(statement, resource):
            continue
        if "NotPrincipal" in statement:
            how = None if principal_matches(statement["NotPrincipal"], caller) else "direct"
        else:
            how = principal_match(statement.get("Principal"), caller)
        effect = _effect(statement, context) if how and _action_matches(statement, action) else None
        if effect == "Deny":
            return Decision(False, explicit_deny=True)
        if effect == "Allow":
            allowed = True
            directly = directly or how == "direct"
    return Decision(allowed, allowed_directly=directly)


def _statements(document: Any) -> list[dict[str, Any]]:
    """The statements of a policy document (JSON text or parsed); none for text that is not JSON."""
    try:
        parsed = json.loads(document) if isinstance(document, str) else document
    except json.JSONDecodeError:
        return []
    return [s for s in _as_list((parsed or {}).get("Statement")) if isinstance(s, dict)]


def _effect(statement: dict[str, Any], context: dict[str, Any]) -> str | None:
    """The statement's Effect (Allow, Deny) when its Condition holds in `context`, else None."""
    return statement.get("Effect") if _condition_matches(statement.get("Condition", {}), context) else None


def _resource_matches(statement: dict[str, Any], resource: str) -> bool:
    # ARNs match case-sensitively, with the same `*` / `?` wildcards as actions
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
    if "NotResource" in statement:
        return not any(_wildcard_match(str(r), resource) for r in _as_list(statement["NotResource"]))
    return any(_wildcard_match(str(r), resource) for r in _as_list(statement.get("Resource")))


def evaluate_identity(
    documents: list[str], action: str, resources: list[str], context: dict[str, Any]
) -> Decision:
    """Evaluates a principal's IAM identity policies for `action` on every one of `resources`:
    an explicit Deny for any resource wins; else every resource needs a matching Allow
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html)."""
    statements = [statement for document in documents for statement in _statements(document)]
    allowed_all = True
    for resource in resources or ["*"]:
        allowed = False
        for statement in statements:
            applies = _action_matches(statement, action) and _resource_matches(statement, resource)
            effect = _effect(statement, context) if applies else None
            if effect == "Deny":
                return Decision(False, explicit_deny=True)
            if effect == "Allow":
                allowed = True
        allowed_all = allowed_all and allowed
    return Decision(allowed_all, allowed_directly=allowed_all)


def role_arn_matches_grantee(grantee: str, caller: Principal) -> bool:
    """A KMS grant's grantee principal: an account root, a role (matching its sessions) or a session."""
    root = _ROOT_ARN.match(grantee)
    if root:
        return root.group(1) == caller.account_id
    return grantee in caller.arns() or grantee == caller.account_id


