"""The ``inzage`` command: run, import, check and seed the portal."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from pathlib import Path

from models.db import close_database, open_database
from models.settings import ConfigurationError, load_settings

logger = logging.getLogger("inzage")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inzage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="bring the database schema up to date")

    demo = sub.add_parser("demo", help="run the portal with a demo school")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--reset", action="store_true", help="start over")

    serve = sub.add_parser("serve", help="run the web process (development)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    imp = sub.add_parser("import-oneroster", help="import a OneRoster CSV bundle")
    imp.add_argument("path", type=Path, help="a .zip file or a folder")
    imp.add_argument("--school", required=True, help="the school code")
    imp.add_argument(
        "--no-authorise",
        action="store_true",
        help="import links without authorising them for the portal",
    )

    check = sub.add_parser("access-check", help="check a case table against the rules")
    check.add_argument("table", type=Path)

    api_key = sub.add_parser(
        "api-key", help="create or replace a school's key for the messages API"
    )
    api_key.add_argument("--school", required=True, help="the school code")

    staff = sub.add_parser(
        "add-staff", help="add a staff member and send the first-sign-in e-mail"
    )
    staff.add_argument("--school", required=True, help="the school code")
    staff.add_argument("--email", required=True, help="the staff member's address")
    staff.add_argument("--role", required=True, choices=("admin", "mentor", "care"))
    staff.add_argument("--given-name", default="")
    staff.add_argument("--family-name", default="")
    staff.add_argument("--language", default="nl", choices=("nl", "en"))
    return parser


async def _with_database(settings, coro_factory):
    await open_database(settings)
    try:
        return await coro_factory()
    finally:
        await close_database()


def _import(settings, args) -> int:
    from models.oneroster import ImportFailed, import_bundle

    async def run():
        return await import_bundle(
            args.path, args.school, authorise_links=not args.no_authorise
        )

    try:
        report = asyncio.run(_with_database(settings, run))
    except ImportFailed as failed:
        for line in failed.lines():
            print(line, file=sys.stderr)
        print("Nothing was imported.", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    return 0


def _access_check(args) -> int:
    from models.cases import run_case_table

    return asyncio.run(run_case_table(args.table, out=sys.stdout))


def _demo(settings, args) -> int:
    from models.demo import ensure_demo
    from web.serve import serve

    if settings.is_production:
        print("The demo refuses to run with INZAGE_ENV=production.", file=sys.stderr)
        return 2
    accounts = asyncio.run(
        _with_database(settings, lambda: ensure_demo(settings, reset=args.reset))
    )
    url = f"http://127.0.0.1:{args.port}/"
    if not os.environ.get("INZAGE_BASE_URL", "").strip():
        # The password links the demo mails point at the port it serves on.
        settings = dataclasses.replace(settings, base_url=url.rstrip("/"))
    print(accounts.table(url))
    serve(settings, host="127.0.0.1", port=args.port)
    return 0


def _api_key(settings, args) -> int:
    from web.api import replace_api_key

    async def run():
        return await replace_api_key(args.school)

    key = asyncio.run(_with_database(settings, run))
    if key is None:
        print(f"There is no school with code {args.school!r}.", file=sys.stderr)
        return 1
    print(key)
    print(
        "Keep this key secret; it is shown only now. Running the command again "
        "replaces it.",
        file=sys.stderr,
    )
    return 0


def _add_staff(settings, args) -> int:
    """Add a staff member without a password; the e-mail starts them off."""
    from email_validator import EmailNotValidError, validate_email

    from models.outbox import AccountExists, invite_staff_member

    try:
        # Syntax only: whether mail arrives is the mail server's business, and
        # the demo and the tests use the reserved example.test domain.
        address = validate_email(
            args.email, check_deliverability=False, test_environment=True
        ).normalized
    except EmailNotValidError as error:
        print(f"That e-mail address is not valid: {error}", file=sys.stderr)
        return 2

    async def run():
        from tasks.queue import close_pools, drain, enqueue_email

        person, outbox = await invite_staff_member(
            args.school,
            address,
            args.role,
            given_name=args.given_name,
            family_name=args.family_name,
            language=args.language,
        )
        queued = await enqueue_email(settings, outbox.id)
        await drain()
        await close_pools()
        return person, outbox, queued

    try:
        person, outbox, queued = asyncio.run(_with_database(settings, run))
    except (LookupError, AccountExists) as error:
        print(error, file=sys.stderr)
        return 1
    # No password exists yet and none is printed (SECURITY-BASELINE A13):
    # the person chooses one through the link the e-mail leads to.
    print(f"Added {args.role} {person.id} at school {args.school.upper()}.")
    state = "is on its way" if queued else "waits for the queue (outbox pending)"
    print(
        f"The first-sign-in e-mail (outbox {outbox.id}) {state}: it tells them"
        " to start with 'Forgot your password?'."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one ``inzage`` command and return its exit code."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    # The ORM's start and stop lines would only stand between a command's own.
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    args = _parser().parse_args(argv)
    settings = load_settings()
    try:
        settings.check()
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        return 2

    if args.command == "access-check":
        # The check builds its cases in a throw-away database; the portal's
        # own schema is still brought up to date, as with every command.
        asyncio.run(_with_database(settings, lambda: asyncio.sleep(0)))
        return _access_check(args)
    if args.command == "import-oneroster":
        return _import(settings, args)
    if args.command == "api-key":
        return _api_key(settings, args)
    if args.command == "add-staff":
        return _add_staff(settings, args)
    if args.command == "demo":
        return _demo(settings, args)
    if args.command == "serve":
        from web.serve import serve

        asyncio.run(_with_database(settings, lambda: asyncio.sleep(0)))
        serve(settings, host=args.host, port=args.port)
        return 0
    if args.command == "migrate":
        asyncio.run(_with_database(settings, lambda: asyncio.sleep(0)))
        print("The database schema is up to date.")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
