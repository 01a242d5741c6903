"""Installs every AWS behaviour ec2-restore relies on and moto 5.2.1 lacks (docs/architecture.md#what-the-emulator-adds-to-moto).
Each module comments every behaviour with the AWS document or error text it follows."""


def install_all() -> None:
    from . import ebs_direct, ec2_rules, iam_rules, kms_rules, sts_rules
    from .identity import install_request_caller

    install_request_caller()
    iam_rules.install()
    kms_rules.install()
    ec2_rules.install()
    ebs_direct.install()
    sts_rules.install()
