"""Builds the WSGI app: moto's own dispatcher, with ec2-restore's behaviours installed first and the EBS
direct data plane served ahead of it (fast_path.py); the test harness's own path in front (test_only.py)."""

from __future__ import annotations

import logging
from typing import Any


def create_app(vanilla: bool) -> Any:
    from .identity import install_account_keys
    from .routing import create_dispatcher
    from . import moto_memory, moto_speed
    from .test_only import TestOnlyRoutes

    # werkzeug logs one line per request on stderr; the launcher keeps only a tail of stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    install_account_keys()
    # Harness, not AWS behaviour (vanilla has them too): tests forget their accounts when done, and moto
    # must not keep those accounts' objects alive meanwhile.
    moto_memory.install()
    moto_speed.install()  # work moto does up front, done when first needed (same answers)
    # The cached router answers exactly as moto's (it only skips repeated work), so vanilla has it too.
    dispatcher = create_dispatcher()
    if vanilla:
        return TestOnlyRoutes(dispatcher)
    from .behaviours import install_all
    from .fast_path import EbsDirectFastPath

    install_all()
    return TestOnlyRoutes(EbsDirectFastPath(dispatcher))
