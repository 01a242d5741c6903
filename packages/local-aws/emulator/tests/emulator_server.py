"""One emulator server per test process, shared by the test modules that need one: the behaviours patch
moto's classes when the app is created, so the app is created once (python3 -m unittest discover -s tests)."""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from typing import Any

REGION = "eu-west-1"
_endpoint: str | None = None


def endpoint() -> str:
    global _endpoint
    if _endpoint is None:
        blocks = tempfile.TemporaryDirectory()
        os.environ["EC2RESTORE_EMULATOR_CONSISTENCY_MS"] = "0"
        os.environ["EC2RESTORE_EMULATOR_BLOCK_DIR"] = blocks.name
        from ec2restore_emulator.app import create_app
        from ec2restore_emulator.ebs_direct import close_block_store
        from ec2restore_emulator.http_server import make_keep_alive_server

        server = make_keep_alive_server("127.0.0.1", 0, create_app(vanilla=False))
        threading.Thread(target=server.serve_forever, daemon=True).start()

        def stop() -> None:
            server.shutdown()
            server.server_close()
            close_block_store()
            blocks.cleanup()

        atexit.register(stop)
        _endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    return _endpoint


def client(service: str, account_id: str | None = None, **credentials: str) -> Any:
    """A boto3 client acting as `account_id`'s root user, or with `credentials` (a role session's)."""
    import boto3
    from botocore.config import Config

    if account_id is not None:
        credentials = {"aws_access_key_id": f"AKIAEMU0{account_id}", "aws_secret_access_key": "unused"}
    return boto3.client(
        service,
        endpoint_url=endpoint(),
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        **credentials,
    )
