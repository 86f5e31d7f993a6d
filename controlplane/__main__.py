"""python -m controlplane <subcommand>"""

from __future__ import annotations

import argparse
import logging
import sys

from controlplane import __version__
from controlplane.config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controlplane",
        description="vcbox control plane. Environment: VCBOX_DATA (data dir, default ./var), "
        "VCBOX_ROOT (rendered configs, default $VCBOX_DATA/root), VCBOX_LISTEN "
        "(default 127.0.0.1:8080).",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    sub.add_parser("serve", help="serve the web admin and the API")
    sub.add_parser("openapi", help="print the OpenAPI document of the API")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = Config.from_env()
    if args.command == "serve":
        from controlplane.server import serve

        serve(config)
    elif args.command == "openapi":
        import json

        from controlplane.app import create_app
        from controlplane.web.openapi import document

        print(json.dumps(document(create_app(config)), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
