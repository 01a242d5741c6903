"""Who is calling: emulator-only credentials and the principal behind an access key.

Mechanism (emulator only, never real AWS): an access key id `AKIAEMU0` + 12 digits acts as the
root user of that 12-digit account. moto itself maps every unknown access key to 123456789012
(moto.iam.models.get_account_id_from), and maps STS AssumeRole credentials to the role's account;
we keep the latter and add the former. The TypeScript side is credentialsForAccount() in
packages/local-aws/src/accounts.ts.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass

ROOT_ACCESS_KEY_PREFIX = "AKIAEMU0"
_ROOT_ACCESS_KEY = re.compile(r"^AKIAEMU0(\d{12})$")
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's account for keys it does not know


@dataclass(frozen=True)
class Principal:
    account_id: str
    # The ARN AWS reports for the caller (GetCallerIdentity, AccessDenied messages):
    # arn:aws:iam::<acct>:root for the root user, arn:aws:sts::<acct>:assumed-role/<role>/<session>.
    arn: str
    # For an assumed-role session, the role's ARN: key and trust policies name roles, not sessions.
    role_arn: str | None = None

    def arns(self) -> set[str]:
        return {self.arn} | ({self.role_arn} if self.role_arn else set())


def root_account_of(access_key: str) -> str | None:
    match = _ROOT_ACCESS_KEY.match(access_key or "")
    return match.group(1) if match else None


def principal_for_access_key(access_key: str) -> Principal:
    account = root_account_of(access_key)
    if account:
        return Principal(account, f"arn:aws:iam::{account}:root")

    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account_id in list(sts_backends.keys()):
        backend = dict.get(sts_backends[account_id], "aws")
        if backend is None:
            continue
        for role in list(backend.assumed_roles):
            if role.access_key_id == access_key:
                return Principal(role.account_id, role.arn, role.role_arn)
    for account_id in list(iam_backends.keys()):
        backend = dict.get(iam_backends[account_id], "aws")
        if backend is None:
            continue
        user = backend.get_user_from_access_key_id(access_key)
        if user:
            return Principal(user.account_id, user.arn)
    return Principal(DEFAULT_ACCOUNT_ID, f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root")


def install_account_keys() -> None:
    """Teach moto that AKIAEMU0<12 digits> belongs to that account (also in --vanilla mode:
    it is the harness's way to act as an account, not an AWS behaviour)."""
    import moto.iam.models as iam_models

    original = iam_models.get_account_id_from

    def get_account_id_from(access_key: str) -> str:
        return root_account_of(access_key) or original(access_key)

    iam_models.get_account_id_from = get_account_id_from


# The access key of the request being served. Set at the start of every request (moto's
# BaseResponse.setup_class), read by backend patches that need the caller (they only get
# `self.account_id`). contextvars are per thread under werkzeug's threaded server.
_current_access_key: contextvars.ContextVar[str] = contextvars.ContextVar("current_access_key", default="")


def current_caller() -> Principal:
    return principal_for_access_key(_current_access_key.get())


def install_request_caller() -> None:
    from moto.core.responses import BaseResponse

    original = BaseResponse.setup_class

    def setup_class(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        _current_access_key.set(self.get_access_key())

    BaseResponse.setup_class = setup_class
