"""Command line entry: `python3 -m ec2restore_emulator --port 0 [--vanilla]`.

Prints one line `EC2RESTORE_EMULATOR_READY port=<port>` on stdout once the socket is bound,
so the launcher (packages/local-aws/src/emulator.ts) can use port 0 without a race.
Exits by itself when its parent goes away: stdin reaches EOF (the parent held the write end)
or the parent pid changes. On every way out it removes its block folder (block_store.py).
"""

import argparse
import os
import signal
import sys
import threading
import time

from . import REQUIRED_MOTO_VERSION


def check_moto_version() -> None:
    try:
        from importlib.metadata import version

        installed = version("moto")
    except Exception:  # noqa: BLE001 - any failure means moto is not importable
        installed = None
    if installed != REQUIRED_MOTO_VERSION:
        found = f"moto {installed} is installed" if installed else "moto is not installed"
        sys.stderr.write(
            f"ec2restore_emulator: {found}, but the emulator patches moto internals and needs exactly "
            f"moto {REQUIRED_MOTO_VERSION}. Fix: python3 -m pip install 'moto[server]=={REQUIRED_MOTO_VERSION}'\n"
        )
        sys.exit(3)


def shut_down() -> None:
    """Leaves nothing behind (the block folder), then ends the process at once, whatever threads run."""
    try:
        from .ebs_direct import close_block_store

        close_block_store()
    finally:
        os._exit(0)


def exit_when_parent_dies(parent_pid: int) -> None:
    """Two signals that the launcher is gone: EOF on stdin, or being re-parented."""

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:  # noqa: BLE001
            pass
        shut_down()

    def watch_parent_pid() -> None:
        while True:
            if os.getppid() != parent_pid:
                shut_down()
            time.sleep(1)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    threading.Thread(target=watch_parent_pid, name="parent-watch", daemon=True).start()


def warm_up() -> None:
    """Emulator overhead, not AWS behaviour: moto builds a service's URL map from its botocore model on
    the first request of that service (~0.2 s, more on a busy machine). EBS direct is first called in
    the middle of a restore (StartSnapshot), so its map is built here, in the background, at start."""
    try:
        from moto.core.responses import _get_method_urls

        _get_method_urls("ebs", "us-east-1")
    except Exception:  # noqa: BLE001 - only a head start; the first request builds it otherwise
        pass


def main() -> None:
    parser = argparse.ArgumentParser(prog="ec2restore_emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--vanilla",
        action="store_true",
        help="plain moto without ec2-restore's additions (proves the contract tests test something)",
    )
    args = parser.parse_args()

    check_moto_version()
    exit_when_parent_dies(os.getppid())
    signal.signal(signal.SIGTERM, lambda *_: shut_down())
    signal.signal(signal.SIGINT, lambda *_: shut_down())

    from .app import create_app
    from .http_server import make_keep_alive_server

    app = create_app(vanilla=args.vanilla)
    server = make_keep_alive_server(args.host, args.port, app)
    port = server.server_address[1]
    mode = "vanilla moto" if args.vanilla else "moto + ec2-restore behaviours"
    sys.stdout.write(f"EC2RESTORE_EMULATOR_READY port={port} mode={mode}\n")
    sys.stdout.flush()
    if not args.vanilla:
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
