"""``vertebra audit verify``: check the audit trail's hash chain (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Annotated

import typer

from vertebra.cli._app import app
from vertebra.errors import InputError

audit_app = typer.Typer(help="The audit store: check its integrity.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify_command(
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL of the audit store (default: VERTEBRA_DATABASE_URL)"),
    ] = None,
) -> None:
    """Recompute the hash chain of the audit events; exit 1 naming the first event that does
    not verify (altered, removed, inserted or reordered)."""
    from vertebra.settings import Settings, SettingsError
    from vertebra.store import Store

    if database_url is None:
        try:
            database_url = Settings.from_env().database_url
        except SettingsError as exc:
            raise InputError.one("settings", str(exc)) from None
    store = Store(database_url, migrate=False)
    try:
        report = store.verify_chain()
    finally:
        store.close()
    note = f" ({report.unchained} earlier events have no hash)" if report.unchained else ""
    if report.ok:
        typer.echo(f"audit chain OK: {report.checked} events verified{note}")
        return
    typer.echo(
        f"audit chain BROKEN at event id {report.broken_at}: {report.problem} "
        f"({report.checked} events verified before it){note}",
        err=True,
    )
    raise typer.Exit(1)
