"""python -m controlplane <subcommand>"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from controlplane import __version__
from controlplane.config import Config, prompts_dir_from


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
    apply = sub.add_parser("apply", help="render every service config from the store under "
                           "VCBOX_ROOT and run the service actions it needs")
    apply.add_argument("--dry-run", action="store_true",
                       help="print the plan as a diff; write nothing, run nothing")
    from controlplane import license as license_cli

    license_cli.add_parser(sub)
    from controlplane import maintenance

    maintenance.add_parser(sub)
    from controlplane import prompts

    prompts.add_parser(sub, prompts_dir_from())
    upgrade = sub.add_parser("upgrade", help="install a release bundle into the releases "
                             "dir (refusing a downgrade) and optionally activate it")
    upgrade.add_argument("--bundle", type=Path, required=True, help="vcbox-<version>.tar.gz")
    upgrade.add_argument("--releases", type=Path, required=True, help="releases directory")
    upgrade.add_argument("--app-link", type=Path, required=True,
                         help="symbolic link to the active release (e.g. /opt/vcbox/app)")
    upgrade.add_argument("--activate", action="store_true",
                         help="point --app-link at the new release")
    upgrade.add_argument("--release-key", type=Path, default=None,
                         help="the release key's public half (PEM): where the file exists,"
                         " the bundle must be signed with it")
    from controlplane import upgrade_run

    upgrade_run.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "upgrade":
        return upgrade_command(args)
    if args.command == "prompts":
        return args.run(args)
    config = Config.from_env()
    if args.command == "serve":
        from controlplane.server import serve

        serve(config)
    elif args.command == "apply":
        return apply_command(config, args.dry_run)
    elif args.command in ("license", "factory-reset", "upgrade-run", "upgrade-snapshot"):
        return args.run(args, config)
    elif args.command == "openapi":
        import json

        from controlplane.app import create_app
        from controlplane.web.openapi import document

        print(json.dumps(document(create_app(config)), indent=2, ensure_ascii=False))
    return 0


def upgrade_command(args: argparse.Namespace) -> int:
    from controlplane import upgrade
    from controlplane.license import load_public_key

    try:
        key = args.release_key
        public_key = load_public_key(key) if key is not None and key.exists() else None
        path = upgrade.install(args.bundle, args.releases, __version__,
                               public_key=public_key)
        print(f"installed: {path}")
        if args.activate:
            previous = upgrade.activate(args.releases, path.name, args.app_link)
            print(f"activated: {args.app_link} -> {path} (previous: {previous or 'none'})")
    except (upgrade.ReleaseError, OSError, ValueError) as exc:
        print(f"upgrade: {exc}", file=sys.stderr)
        return 1
    return 0


def apply_command(config: Config, dry_run: bool) -> int:
    import dataclasses

    from controlplane.app import Services

    # The running server owns the child processes of local mode: the CLI starts none.
    services = Services.open(dataclasses.replace(config, local_services=()))
    try:
        if dry_run:
            sys.stdout.write(services.applier.plan().diff())
            return 0
        plan, result = services.applier.apply(actor="cli", ip="local")
        for outcome in result.outcomes:
            print(f"{outcome.action}: {outcome.text}")
        print(f"{len(plan.files)} file(s) changed; " + ("ok" if result.ok else
              f"FAILED, previous files restored: {result.failed}"))
        return 0 if result.ok else 1
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())
