"""The ``station rekey`` command: a new key pair for this station, handed over from the old one."""

from __future__ import annotations

import click

from station.cli_base import Context, handles_errors
from station.identity import load_keypair
from station.rekey import rekey
from station.render import print_lines
from sync.i18n import pick

__all__ = ("rekey_command",)


@click.command("rekey")
@click.pass_obj
@handles_errors
def rekey_command(obj: Context) -> None:
    """Make a new key pair for this station; the next sync hands the hub over to it (the old key is then refused).

    The new public keys go up in the next set, signed with the current key; once the hub has
    acknowledged that set, this station signs with the new key and the hub refuses the old one, so
    a lost copy of it is of no use. Needs the station passphrase; the hub must be of a release that
    takes a station's new key (it says so at every sync).
    """
    with obj.station() as station:
        keys = load_keypair(obj.data_dir, obj.passphrase())
        result = rekey(station, keys)
    print_lines(
        obj.out,
        [
            pick(
                obj.lang,
                f"已生成本站新密钥 {result.new_key_id}（原密钥 {result.old_key_id}）。",
                f"New station key {result.new_key_id} made (it replaces {result.old_key_id}).",
            ),
            pick(
                obj.lang,
                "下次同步时交给县平台；县平台确认后，旧密钥即作废，任何人都不能再用它。请现在同步（station sync）。",
                "It goes to the hub with the next sync; once the hub has acknowledged it, the old key is refused, "
                "whoever holds it. Sync now ('station sync').",
            ),
        ],
    )
