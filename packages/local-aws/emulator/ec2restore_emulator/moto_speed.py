"""Work moto does for every new object that the emulator's callers seldom or never read, done when first
read instead. Emulator overhead only: every answer is the one moto gives.

- Every KMS key moto creates, symmetric ones included, gets an RSA-2048 private key for Sign, Verify and
  GetPublicKey (`moto.kms.utils.generate_private_key`): ~40-90 ms of CPU per CreateKey, and one more
  for the `aws/ebs` key of every account that uses EBS encryption. A symmetric or HMAC key never
  signs on AWS ("Use an asymmetric KMS key", https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html);
  here the private key of a `SYMMETRIC_DEFAULT` or `HMAC_*` key is made on first use, so a call
  that reads it answers as before. Other key specs get theirs at once, as from moto, so a spec moto
  refuses still fails CreateKey.
"""

from __future__ import annotations

from typing import Any, Callable


class _PrivateKeyWhenUsed:
    """Stands in for moto's private key object; makes it on first attribute read."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._key: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_make", "_key"):
            raise AttributeError(name)  # copy/pickle probes, and reads before __init__ (copying)
        if self._key is None:
            self._key = self._make()
        return getattr(self._key, name)


def install() -> None:
    import moto.kms.models as kms_models

    make_now = kms_models.generate_private_key

    def generate_private_key(key_spec: str) -> Any:
        if key_spec == "SYMMETRIC_DEFAULT" or key_spec.startswith("HMAC_"):
            return _PrivateKeyWhenUsed(lambda: make_now(key_spec))
        return make_now(key_spec)

    kms_models.generate_private_key = generate_private_key
