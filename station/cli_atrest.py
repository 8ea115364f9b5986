"""The ``station unlock`` and ``station lock`` commands: the data key in the OS keyring, by the agent's choice."""

from __future__ import annotations

import click

from station.cli_base import Context, handles_errors
from station.render import print_lines
from station.store import datakey
from sync.i18n import pick

__all__ = ("KEY_COMMANDS",)


@click.command("unlock")
@click.option(
    "--remember",
    is_flag=True,
    help="Keep the data key in this user's OS keyring: commands and the TUI then open the data "
    "without the passphrase (sync still asks for it).",
)
@click.pass_obj
@handles_errors
def unlock_command(obj: Context, remember: bool) -> None:
    """Check the station passphrase (exit 2 when wrong); with --remember, keep the data key in the keyring."""
    with obj.station():  # asks for the passphrase, and encrypts an older database on the way
        pass
    lines = [pick(obj.lang, "口令正确，本站数据可以打开。", "The passphrase is right: this station's data opens.")]
    if remember:
        key = datakey.held_key(obj.data_dir)  # the open above unlocked it in this process
        if key is None:
            raise datakey.needed_error()
        datakey.remember_in_keyring(obj.data_dir, key)
        lines.append(
            pick(
                obj.lang,
                "数据密钥已存入本机当前用户的系统密钥环：本用户登录后无需口令即可打开本站数据。用“station lock”取消。",
                "The data key is now in this user's OS keyring: once logged in, this user opens the station's data "
                "without the passphrase. 'station lock' undoes it.",
            )
        )
    print_lines(obj.out, lines)


@click.command("lock")
@click.pass_obj
@handles_errors
def lock_command(obj: Context) -> None:
    """Remove the data key from the OS keyring: the passphrase is needed again to open the data."""
    removed = datakey.forget_in_keyring(obj.data_dir)
    datakey.forget(obj.data_dir)
    print_lines(
        obj.out,
        [
            pick(
                obj.lang,
                "已从系统密钥环中删除数据密钥：今后打开本站数据需要口令。",
                "The data key was removed from the OS keyring: the passphrase is needed again.",
            )
            if removed
            else pick(
                obj.lang,
                "系统密钥环中没有本站的数据密钥：打开本站数据本来就需要口令。",
                "The OS keyring held no data key of this station: the passphrase is needed already.",
            ),
        ],
    )


KEY_COMMANDS = (unlock_command, lock_command)
"""Added to the ``station`` group by station.cli."""
