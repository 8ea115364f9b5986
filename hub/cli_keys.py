"""``hub key``: rotate the hub's signing and box keys, and show the generations it holds."""

from __future__ import annotations

from typing import Any

import click

from hub._cli_common import Context, handles_errors, json_text
from hub.keys import load_identity
from hub.rotation import rotate_hub_key
from hub.views import china_time
from sync.crypto import fingerprint, key_id_of
from sync.text import json_for_terminal

__all__ = ("key",)


@click.group()
def key() -> None:
    """The hub's own keys: rotate them (the stations follow on their next sync) and list their generations."""


@key.command("rotate")
@click.pass_obj
@handles_errors
def key_rotate(obj: Context) -> None:
    """Make the hub's next signing and box keys, signed by the current ones, and tell every station.

    Safe while 'hub serve' runs (it takes the new keys at its next request). Each station that reads
    the handover gets it down its feed and checks every later feed set against the new key; a station
    of an older release stays under the keys it pinned until it is upgraded. Every older key is kept:
    sets sealed to it may still be on their way.
    """
    with obj.store() as store:
        result = rotate_hub_key(obj.data_dir, store)
    obj.say(
        f"县平台密钥已轮换：第 {result.gen} 代，密钥 {result.key_id}（原 {result.old_key_id}）",
        f"Hub key rotated: generation {result.gen}, key {result.key_id} (was {result.old_key_id})",
    )
    obj.say(f"新密钥指纹：{result.fingerprint}", f"New key fingerprint: {result.fingerprint}")
    obj.say(
        f"已通知 {result.queued} 个代办点（下次同步时生效）；{result.waiting} 个代办点版本较旧，升级后再更换",
        f"{result.queued} station(s) told (on their next sync); {result.waiting} of an older release follow "
        "once upgraded",
    )


@key.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def key_list(obj: Context, as_json: bool) -> None:
    """List the hub's key generations, oldest first: key id, fingerprint, made, replaced."""
    identity = load_identity(obj.data_dir)
    rows: list[dict[str, Any]] = [
        {
            "gen": old.gen,
            "key_id": key_id_of(old.keys.sign_public),
            "fingerprint": fingerprint(old.keys.sign_public),
            "created_at": old.created_at or None,
            "retired_at": old.retired_at or None,
        }
        for old in identity.previous
    ]
    rows.append(
        {
            "gen": identity.gen,
            "key_id": identity.hub_id,
            "fingerprint": identity.fingerprint,
            "created_at": identity.created_at or None,
            "retired_at": None,
        }
    )
    if as_json:
        click.echo(json_for_terminal(json_text(rows)))
        return
    for row in rows:
        made = china_time(row["created_at"]) if row["created_at"] else "-"
        if row["retired_at"]:
            state_zh, state_en = (
                f"已于 {china_time(row['retired_at'])} 更换",
                f"replaced {china_time(row['retired_at'])}",
            )
        else:
            state_zh, state_en = "当前", "current"
        obj.say(
            f"第 {row['gen']} 代  {row['key_id']}  指纹 {row['fingerprint']}  生成 {made}  {state_zh}",
            f"generation {row['gen']}  {row['key_id']}  fingerprint {row['fingerprint']}  made {made}  {state_en}",
        )
