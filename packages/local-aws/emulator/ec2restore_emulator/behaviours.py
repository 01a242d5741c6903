"""Installs every AWS behaviour ec2-restore relies on and moto 5.2.1 lacks (docs/architecture.md#what-the-emulator-adds-to-moto).
Each module comments every behaviour with the AWS document or error text it follows."""


def install_all() -> None:
    from . import (
        consistency,
        ebs_direct,
        ec2_rules,
        iam_rules,
        idempotency,
        images,
        kms_rules,
        public_images,
        s3_rules,
        sts_rules,
        volume_data,
        zones,
    )
    from .identity import install_request_caller

    install_request_caller()
    # Each wraps moto's request dispatch around the one before: a request is authorized (iam_rules)
    # before a repeated ClientToken is answered (idempotency), before ids are looked up (consistency).
    consistency.install()
    idempotency.install()
    iam_rules.install()
    kms_rules.install()
    ec2_rules.install()
    zones.install()
    images.install()
    public_images.install()
    ebs_direct.install()
    volume_data.install()
    sts_rules.install()
    s3_rules.install()
