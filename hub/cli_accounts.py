"""``hub user``, ``hub token``, ``hub department``, and ``hub station codes``/``void``: accounts, tokens, enrolment codes."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from hub._cli_common import Context, handles_errors, json_text
from hub.accounts import ROLES, add_user, create_token, disable_user, hasher_for, revoke_token, set_password
from hub.departments import departments
from hub.enroll import code_state, void_code
from hub.settings import Settings
from hub.views import china_time, terminal_cell
from sync.errors import InputError
from sync.i18n import label, pick
from sync.timeutil import utc_now

__all__ = ("department", "station_codes", "station_void", "token", "user")

PASSWORD_ENV = "HUB_USER_PASSWORD"


def _password(obj: Context, from_stdin: bool) -> str:
    """The new password: one line of stdin, else $HUB_USER_PASSWORD (scripts), else asked twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise InputError(
            zh=f"没有密码：请使用 --password-stdin 或设置 {PASSWORD_ENV}",
            en=f"no password: use --password-stdin or set {PASSWORD_ENV}",
            field="password",
        )
    return click.prompt(pick(obj.lang, "密码", "Password"), hide_input=True, confirmation_prompt=True)


def _china(value: str | None) -> str:
    return china_time(value) or "-"


@click.group()
def user() -> None:
    """Accounts: administrators (watch sync, no personal data) and department staff (decide cases)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin, department or township.")
@click.option("--department", "department_key", default=None, help="Department key (see 'hub department list').")
@click.option("--township", default=None, help="A township account's township: its 12-digit code (ends 000).")
@click.option("--head", is_flag=True, help="The department's or township's head: overdue cases reach this account.")
@click.option("--email", default=None, help="Address for the daily alert digest (SMTP backend).")
@click.option(
    "--password-stdin", is_flag=True, help=f"Read the password from stdin (else ${PASSWORD_ENV}, else ask twice)."
)
@click.pass_obj
@handles_errors
def user_add(
    obj: Context,
    name: str,
    role: str,
    department_key: str | None,
    township: str | None,
    head: bool,
    email: str | None,
    password_stdin: bool,
) -> None:
    """Create an account; its password is stored only as an Argon2id hash."""
    password = _password(obj, password_stdin)
    with obj.store() as store:
        row = add_user(
            store,
            name,
            role,
            password,
            department=department_key,
            township=township,
            head=head,
            email=email,
            hasher=hasher_for(Settings(data_dir=obj.data_dir)),
            now=utc_now(),
        )
    where = f" {row.department or row.township}" if row.department or row.township else ""
    chief = pick(obj.lang, "，负责人", ", head") if row.head else ""
    obj.say(
        f"已创建用户 {row.name}（{label('role', row.role, 'zh')}{where}{chief}）",
        f"Created user {row.name} ({row.role}{where}{chief})",
    )


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def user_list(obj: Context, as_json: bool) -> None:
    """List accounts: name, role, department, created, disabled."""
    with obj.store() as store:
        rows: list[dict[str, Any]] = [
            {
                "name": u.name,
                "role": u.role,
                "department": u.department,
                "township": u.township,
                "head": bool(u.head),
                "created_at": u.created_at,
                "disabled_at": u.disabled_at,
            }
            for u in store.users()
        ]
    if as_json:
        click.echo(json_text(rows))
        return
    if not rows:
        obj.say("还没有账号：hub user add 用户名 --role admin", "No accounts yet: hub user add NAME --role admin")
        return
    for r in rows:
        state = pick(obj.lang, "已停用", "disabled") if r["disabled_at"] else ""
        role = label("role", r["role"], obj.lang)
        scope = str(r["department"] or r["township"] or "-")
        if r["head"]:
            scope += pick(obj.lang, "（负责人）", " (head)")
        click.echo(f"{r['name']}\t{role}\t{scope}\t{_china(r['created_at'])}\t{state}".rstrip())


@user.command("passwd")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help=f"Read the password from stdin (else ${PASSWORD_ENV}, else ask twice)."
)
@click.pass_obj
@handles_errors
def user_passwd(obj: Context, name: str, password_stdin: bool) -> None:
    """Set a new password for an account; its browser sessions end."""
    password = _password(obj, password_stdin)
    with obj.store() as store:
        row = set_password(store, name, password, hasher=hasher_for(Settings(data_dir=obj.data_dir)))
    obj.say(f"已为 {row.name} 设置新密码", f"New password set for {row.name}")


@user.command("disable")
@click.argument("name")
@click.pass_obj
@handles_errors
def user_disable(obj: Context, name: str) -> None:
    """Disable an account: its sessions end and its tokens are revoked at once."""
    with obj.store() as store:
        row = disable_user(store, name, now=utc_now())
    obj.say(f"已停用 {row.name}（其登录和令牌均已失效）", f"Disabled {row.name} (its sessions and tokens are void)")


@click.group()
def token() -> None:
    """API bearer tokens (for the JSON API and 'hub status'), one account each."""


@token.command("create")
@click.option("--user", "user_name", required=True, help="The account the token acts as.")
@click.option(
    "--expires-days",
    type=click.FloatRange(0),
    default=90,
    show_default=True,
    help="Days until it expires; 0 for never.",
)
@click.pass_obj
@handles_errors
def token_create(obj: Context, user_name: str, expires_days: float) -> None:
    """Issue a token; printed once, alone on the last line (the hub keeps only its hash)."""
    with obj.store() as store:
        issued = create_token(store, user_name, expires_days=expires_days or None, now=utc_now())
    until = _china(issued.expires_at) if issued.expires_at else pick(obj.lang, "永不过期", "never")
    obj.say(
        f"{issued.user} 的令牌 {issued.token_id}，有效期至 {until}（只显示这一次）：",
        f"Token {issued.token_id} for {issued.user}, expires {until} (shown only this once):",
    )
    click.echo(issued.token)


@token.command("list")
@click.option("--user", "user_name", default=None, help="Only this account's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def token_list(obj: Context, user_name: str | None, as_json: bool) -> None:
    """List tokens (ids, never the tokens): account, created, expires, revoked, last used."""
    with obj.store() as store:
        account = store.user_named(user_name) if user_name else None
        if user_name and account is None:
            raise InputError(zh=f"没有用户 {user_name!r}", en=f"no user {user_name!r}", field="user")
        rows = [
            {
                "token_id": t.token_id,
                "user": t.user_name,
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
                "last_used_at": t.last_used_at,
            }
            for t in store.tokens(account.user_id if account else None)
        ]
    if as_json:
        click.echo(json_text(rows))
        return
    table = Table(
        *[
            pick(obj.lang, zh, en)
            for zh, en in (
                ("令牌", "token"),
                ("用户", "user"),
                ("创建", "created"),
                ("到期", "expires"),
                ("吊销", "revoked"),
                ("最近使用", "last used"),
            )
        ]
    )
    for r in rows:
        # Text cells: a user name may hold brackets ("[/x]" is a valid name), which a str cell reads as markup.
        table.add_row(
            *(
                terminal_cell(v)
                for v in (
                    r["token_id"],
                    r["user"],
                    _china(r["created_at"]),
                    _china(r["expires_at"]),
                    _china(r["revoked_at"]),
                    _china(r["last_used_at"]),
                )
            )
        )
    obj.out.print(table)


@token.command("revoke")
@click.argument("token_id")
@click.pass_obj
@handles_errors
def token_revoke(obj: Context, token_id: str) -> None:
    """Revoke a token by its id (or the whole token); it stops working at once."""
    with obj.store() as store:
        row = revoke_token(store, token_id, now=utc_now())
    obj.say(f"已吊销令牌 {row.token_id}（{row.user_name}）", f"Revoked token {row.token_id} ({row.user_name})")


@click.group()
def department() -> None:
    """County departments, from the catalogue (the keys department accounts use)."""


@department.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def department_list(obj: Context, as_json: bool) -> None:
    """List department keys (item-code prefixes), their names and items."""
    with obj.store() as store:
        found = departments(store.catalog())
    if as_json:
        click.echo(
            json_text(
                [
                    {
                        "key": d.key,
                        "name_zh": d.name_zh,
                        "name_en": d.name_en,
                        "names_zh": list(d.names_zh),
                        "items": list(d.items),
                    }
                    for d in found
                ]
            )
        )
        return
    for d in found:
        others = [n for n in d.names_zh if n != d.name_zh]
        also = pick(obj.lang, f"（另见：{'、'.join(others)}）", f" (also: {', '.join(others)})") if others else ""
        name = d.name_en if obj.lang == "en" else d.name_zh
        click.echo(f"{d.key}\t{name}{also}\t{' '.join(d.items)}")


# -- enrolment codes (attached to ``hub station`` by hub.cli) -----------------------------------------

_CODE_STATES = {"open": "未使用", "used": "已使用", "expired": "已过期或作废"}


@click.command("codes")
@click.option("--all", "show_all", is_flag=True, help="Every code ever issued, not only the open ones.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON object).")
@click.pass_obj
@handles_errors
def station_codes(obj: Context, show_all: bool, as_json: bool) -> None:
    """List enrolment codes (ids, never secrets): village, device, state, expiry, refused attempts.

    Wrong codes sent by anyone are counted here and never void a code; 'hub station void' does.
    """
    now = utc_now()
    with obj.store() as store:
        rows: list[dict[str, Any]] = [
            {
                "code_id": r.code_id,
                "village_code": r.village_code,
                "device": r.device,
                "state": code_state(r, now),
                "created_at": r.created_at,
                "expires_at": r.expires_at,
                "used_at": r.used_at,
                "station_id": r.station_id,
                "failures": r.failures,
            }
            for r in store.enrolments()
            if show_all or code_state(r, now) == "open"
        ]
        unknown = store.enrolment_unknown_failures()
    if as_json:
        click.echo(json_text({"codes": rows, "unknown_code_failures": unknown}))
        return
    if rows:
        table = Table(
            *[
                pick(obj.lang, zh, en)
                for zh, en in (
                    ("登记码编号", "code id"),
                    ("村", "village"),
                    ("设备", "device"),
                    ("状态", "state"),
                    ("到期", "expires"),
                    ("代办点", "station"),
                    ("被拒尝试", "refused attempts"),
                )
            ]
        )
        for r in rows:
            state = r["state"] if obj.lang == "en" else _CODE_STATES[r["state"]]
            table.add_row(
                escape(r["code_id"]),
                r["village_code"],
                r["device"],
                state,
                _china(r["expires_at"]),
                escape(r["station_id"] or "-"),
                str(r["failures"]),
            )
        obj.out.print(table)
    else:
        obj.say("没有未使用的登记码。", "No open enrolment codes.")
    obj.say(f"使用不存在的登记码编号的尝试：{unknown} 次", f"Attempts with code ids never issued: {unknown}")


@click.command("void")
@click.argument("code_id")
@click.pass_obj
@handles_errors
def station_void(obj: Context, code_id: str) -> None:
    """Void an open enrolment code at once (its id: the first group of the code); its device letter is free again."""
    with obj.store() as store:
        row = void_code(store, code_id, now=utc_now)
    obj.say(
        f"已作废登记码 {row.code_id}（村 {row.village_code}，设备 {row.device}）",
        f"Voided enrolment code {row.code_id} (village {row.village_code}, device {row.device})",
    )
