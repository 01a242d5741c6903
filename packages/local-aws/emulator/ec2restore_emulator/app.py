"""Builds the WSGI app: moto's own dispatcher, with ec2-restore's behaviours installed first and the EBS
direct data plane served ahead of it (fast_path.py)."""

from __future__ import annotations

import logging
from typing import Any


def create_app(vanilla: bool) -> Any:
    from .identity import install_account_keys
    from .routing import create_dispatcher

    # werkzeug logs one line per request on stderr; the launcher keeps only a tail of stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    install_account_keys()
    # The cached router answers exactly as moto's (it only skips repeated work), so vanilla has it too.
    dispatcher = create_dispatcher()
    if vanilla:
        return dispatcher
    from .behaviours import install_all
    from .fast_path import EbsDirectFastPath

    install_all()
    return EbsDirectFastPath(dispatcher)
