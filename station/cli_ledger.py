"""``station ledger --month YYYY-MM FILE.xlsx``: the station's monthly ledger (代办台账) as a workbook."""

from __future__ import annotations

from pathlib import Path

import click

from station.cli_base import Context, handles_errors
from station.ledger import parse_month, write_ledger
from station.store.datakey import open_data_key
from sync.i18n import pick

__all__ = ("ledger_command",)


@click.command("ledger")
@click.option("--month", required=True, help="The month, e.g. 2026-11 (cases received in it, China dates).")
@click.option(
    "--full",
    is_flag=True,
    help="Names and ID numbers in full instead of masked; asks for the station passphrase "
    "($STATION_PASSPHRASE) even when the keyring opened the station.",
)
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.pass_obj
@handles_errors
def ledger_command(obj: Context, month: str, full: bool, file: Path) -> None:
    """Write this station's ledger of MONTH to FILE (.xlsx): case number, applicant (masked), item, received,
    due, status, delivered, rating."""
    parse_month(month)  # a bad month is refused before anything is opened or asked for
    with obj.station() as st:
        if full:
            # Full personal data leaves the encrypted folder: the passphrase proves the agent's presence,
            # whatever unlocked the station (a keyring opens it without one).
            open_data_key(st.data_dir, obj.passphrase())
        count = write_ledger(st, month, file, full=full, lang=obj.lang)
    click.echo(
        pick(
            obj.lang, f"已写出 {month} 台账：{count} 件 → {file}", f"Ledger of {month} written: {count} cases → {file}"
        )
    )
