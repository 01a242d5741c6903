"""Builds the WSGI app: moto's own dispatcher, with ec2-restore's behaviours installed first."""

from __future__ import annotations

import logging
from typing import Any


def create_app(vanilla: bool) -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from .identity import install_account_keys

    # werkzeug logs one line per request on stderr; the launcher keeps only a tail of stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    install_account_keys()
    if not vanilla:
        from .behaviours import install_all

        install_all()
    return DomainDispatcherApplication(create_backend_app)
