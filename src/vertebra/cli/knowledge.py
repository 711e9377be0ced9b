"""``vertebra knowledge``: list, show and lint the decision tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vertebra.cli._app import app
from vertebra.errors import InputError
from vertebra.knowledge import KnowledgeBase, KnowledgeError, load
from vertebra.knowledge.loader import load_from

knowledge_app = typer.Typer(
    help="List the decision tables and rows (default), show one table, or lint the knowledge.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(knowledge_app, name="knowledge")


def _summary(kb: KnowledgeBase) -> list[str]:
    lines = [f"{kb.manifest.name} — version {kb.version}"]
    for t in kb.tables:
        lines.append(
            f"{t.table.id}: {t.table.title} ({len(t.rows)} rows) — trigger: {t.table.trigger}"
        )
        for r in t.rows:
            then = r.row.then
            lines.append(
                f"  {r.row.id}: {then.action} {then.category} — {then.title} "
                f"[{', '.join(r.row.references)}]"
            )
    lines.append(f"{kb.safety.id}: {kb.safety.title} ({len(kb.safety_rows)} rows)")
    for s in kb.safety_rows:
        lines.append(f"  {s.row.id}: {s.row.action} {', '.join(s.row.drugs)} when {s.text}")
    return lines


@knowledge_app.callback()
def knowledge_main(ctx: typer.Context) -> None:
    """List every decision table and row with its references."""
    if ctx.invoked_subcommand is None:
        typer.echo("\n".join(_summary(load())))


@knowledge_app.command("show")
def show(table_id: Annotated[str, typer.Argument(help="Decision table id")]) -> None:
    """Show one decision table, row by row, as a clinician would read it."""
    kb = load()
    match = [t for t in kb.tables if t.table.id == table_id]
    if not match:
        known = [t.table.id for t in kb.tables]
        raise InputError.one("table_id", f"unknown table {table_id!r}", "literal_error", known)
    t = match[0]
    typer.echo(f"{t.table.id}: {t.table.title}\ntrigger: {t.table.trigger}")
    typer.echo(f"inputs: {', '.join(t.inputs) or '(none)'}")
    for r in t.rows:
        then = r.row.then
        typer.echo(
            f"\n- {r.row.id}\n  when: {r.text}\n  then: {then.action} {then.category}: {then.title}"
        )
        typer.echo(f"  annotation: {r.row.annotation}\n  references: {', '.join(r.row.references)}")


@knowledge_app.command("lint")
def lint(
    path: Annotated[
        Path | None, typer.Option(help="A knowledge folder to check instead of the shipped one")
    ] = None,
) -> None:
    """Validate the knowledge files (schema, facts, vocabularies, references, a test on every row)
    and prove, exhaustively over the facts the rows read, that no plan offers and advises against
    the same drug or procedure."""
    try:
        kb = load_from(path) if path is not None else load()
    except KnowledgeError as exc:
        typer.echo(f"knowledge lint failed: {exc}", err=True)
        raise typer.Exit(1) from None
    from vertebra.engine.consistency import prove

    proof = prove(kb)
    if not proof.ok:
        typer.echo(
            "knowledge lint failed: a plan can offer and advise against one decision", err=True
        )
        for clash in proof.clashes:
            typer.echo(f"  - {clash.describe()}", err=True)
        raise typer.Exit(1)
    rows = sum(len(t.rows) for t in kb.tables) + len(kb.safety_rows)
    typer.echo(
        f"ok: {len(kb.tables)} tables, {rows} rows, {len(kb.sources)} sources, "
        f"{len(kb.conflicts)} conflicts — knowledge {kb.version}"
    )
    typer.echo(proof.summary())
