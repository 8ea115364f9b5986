"""The ``hub`` command: set up the county hub, serve it, enrol stations, decide cases, move files.

Just over 500 lines: the command groups of the operator's guide (docs/hub.md) in the order it
describes them; accounts and status live in hub/cli_accounts.py and hub/cli_status.py.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import sys
from pathlib import Path

import click
from rich.table import Table

from hub._cli_common import Context, fit_table, handles_errors, json_text, text
from hub.backup import serving
from hub.bootstrap import init_hub
from hub.cli_accounts import department, station_codes, station_void, token, user
from hub.cli_alerts import alerts, joint
from hub.cli_backup import BACKUP_COMMANDS
from hub.cli_calendar import calendar
from hub.cli_catalog import catalog
from hub.cli_county import county
from hub.cli_forks import forks
from hub.cli_keys import key
from hub.cli_migrate import migrate
from hub.cli_ratings import RATING_GROUPS
from hub.cli_scans import attachments
from hub.cli_status import status
from hub.cli_upstream import upstream
from hub.decisions import ALIASES, decide
from hub.enroll import DEFAULT_EXPIRES_HOURS, issue_code, revoke_station
from hub.keys import load_identity
from hub.scans import import_scan_parts
from hub.settings import (
    DATABASE_URL_ENV,
    DatabaseURL,
    Settings,
    database_for,
    database_from_env,
    default_data_dir,
    parse_database_url,
    require_available_store,
)
from hub.store import HubStore
from hub.transfer import export_file, import_file
from hub.views import (
    case_summary,
    china_time,
    clock_offset_text,
    duration_text,
    station_summary,
    terminal_cell,
)
from hub.web.security_headers import parse_trusted_proxies
from sync.errors import InputError
from sync.i18n import label, pick, resolve_lang
from sync.lifecycle import Status, status_label
from sync.text import check_text, json_for_terminal, printable
from sync.timeutil import utc_now

__all__ = ("main",)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Hub data folder. Default: $HUB_DATA_DIR, else the per-user data folder.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Output language. Default: zh, or en when LANG is English.",
)
@click.version_option(package_name="proxyapp", prog_name="hub")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, lang: str | None) -> None:
    """County hub (县级平台): enrol village stations, receive their cases, decide, send back.

    Start with 'hub init', then 'hub station add --village CODE' and 'hub serve'.
    """
    ctx.obj = Context(data_dir or default_data_dir(), resolve_lang(lang))
    if ctx.invoked_subcommand != "init":  # init checks its --database (or this variable) itself
        _check_store(ctx.obj.data_dir)


@handles_errors
def _check_store(data_dir: Path) -> None:
    # Exit 2 on a bad or unreachable HUB_DATABASE_URL (or URL recorded by 'hub init --database'), before
    # any command tries the store: the reason and what to check, not a traceback.
    database, option = database_for(data_dir)
    require_available_store(database, option=option)


@main.command()
@click.option(
    "--database",
    "database_url",
    metavar="URL",
    default=None,
    help="Keep the hub's store in PostgreSQL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE) instead of the "
    "SQLite file in the data folder; keys and settings stay there, and the URL is recorded there for every "
    "later command. An empty database. Default: $HUB_DATABASE_URL, else SQLite (docs/postgresql.md).",
)
@click.option(
    "--role",
    type=click.Choice(["county", "province"]),
    default="county",
    show_default=True,
    help="province: a province hub, which counties forward to (hub county add); read-only for cases.",
)
@click.pass_obj
@handles_errors
def init(obj: Context, database_url: str | None, role: str = "county") -> None:
    """Create the hub: keys, database, sample catalogue, calendar years, division tree (no accounts yet)."""
    database: DatabaseURL | None
    if database_url is not None:
        database = parse_database_url(database_url, option="--database")
        require_available_store(database, option="--database")
    else:
        database = database_from_env(os.environ)
        require_available_store(database, option=DATABASE_URL_ENV)
    result = init_hub(obj.data_dir, database=database.url if database else None)
    if role == "province":  # hub.upstream.ROLE_META
        with obj.store() as store, store.transaction():
            store.set_meta("hub_role", "province")
        obj.say(f"省级平台已创建：{result.data_dir}", f"Province hub created: {result.data_dir}")
    else:
        obj.say(f"县平台已创建：{result.data_dir}", f"Hub created: {result.data_dir}")
    if database is not None:
        obj.say(f"数据库：PostgreSQL {database.redacted}", f"Store: PostgreSQL {database.redacted}")
    obj.say(f"平台编号：{result.hub_id}", f"Hub id: {result.hub_id}")
    obj.say(f"密钥指纹：{result.fingerprint}", f"Key fingerprint: {result.fingerprint}")
    obj.say(
        f"事项目录版本 {result.catalog_version}；工作日历 {result.calendar_years[0]}-{result.calendar_years[-1]}；"
        f"{result.villages} 个村（社区）",
        f"Catalogue version {result.catalog_version}; calendar {result.calendar_years[0]}-"
        f"{result.calendar_years[-1]}; {result.villages} villages",
    )
    obj.say(
        "下一步：创建管理员账号：hub user add 用户名 --role admin",
        "Next: create an administrator account: hub user add NAME --role admin",
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes. More than 1 needs the PostgreSQL store (HUB_DATABASE_URL or hub init --database): "
    "each station's sets are taken one at a time across them, different stations at once.",
)
@click.option(
    "--warn-days",
    type=click.FloatRange(0),
    default=None,
    help="Dashboard: no contact for more days than this is a warning. Default: $HUB_WARN_DAYS, else 3.",
)
@click.option(
    "--danger-days",
    type=click.FloatRange(0),
    default=None,
    help="Dashboard: no contact for more days than this is danger. Default: $HUB_DANGER_DAYS, else 7.",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Serve HTTPS with this certificate chain (PEM); needs --tls-key.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The certificate's private key (PEM).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDR",
    help="A reverse proxy (address or network) whose X-Forwarded-For/-Proto are believed. Repeatable. "
    "Default: $HUB_TRUSTED_PROXIES, else none.",
)
@click.pass_obj
@handles_errors
def serve(
    obj: Context,
    host: str,
    port: int,
    workers: int,
    warn_days: float | None,
    danger_days: float | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    trusted_proxies: tuple[str, ...],
) -> None:
    """Serve the hub (station protocol, dashboard, desk, JSON API, /metrics) with uvicorn."""
    identity = load_identity(obj.data_dir)  # fail here, in the user's language, if there is no hub
    database, _ = database_for(obj.data_dir)
    if workers > 1 and database is None:
        raise InputError(
            zh=f"--workers {workers}：内置的 SQLite 数据库同一时刻只允许一个写入者，多个进程只会互相等待。"
            "请使用 --workers 1，或先把数据迁移到 PostgreSQL（hub migrate --to URL，见 docs/postgresql.md）",
            en=f"--workers {workers}: the built-in SQLite store takes one writer at a time, so more processes "
            "would only wait for each other. Use --workers 1, or move the store to PostgreSQL first "
            "(hub migrate --to URL; docs/postgresql.md)",
            field="workers",
        )
    HubStore.open_existing(obj.data_dir).close()  # schema upgraded once, before the workers start
    parse_trusted_proxies(trusted_proxies or Settings.from_env().trusted_proxies)  # exit 2 now, not per request
    if (tls_cert is None) != (tls_key is None):
        raise InputError(
            zh="--tls-cert 与 --tls-key 须同时指定", en="--tls-cert and --tls-key go together", field="tls"
        )
    if tls_cert and tls_key:
        _check_tls(tls_cert, tls_key)
    scheme = "https" if tls_cert else "http"
    obj.say(
        f"县平台 {identity.hub_id}（指纹 {identity.fingerprint}）：{scheme}://{host}:{port}",
        f"Hub {identity.hub_id} (fingerprint {identity.fingerprint}): {scheme}://{host}:{port}",
    )
    if not tls_cert and not _is_loopback(host):
        click.echo(
            f"警告：{host} 不是本机回环地址，且未启用 TLS：网页的密码、会话和个人信息将以明文传输。"
            "请使用 --tls-cert/--tls-key，或在前面放置 TLS 反向代理（见 docs/hub.md）。",
            err=True,
        )
        click.echo(
            f"Warning: listening on {host}, not a loopback address, without TLS: the pages' passwords, "
            "sessions and personal data travel in the clear. Use --tls-cert/--tls-key, or put a TLS "
            "reverse proxy in front (docs/hub.md).",
            err=True,
        )
    os.environ["HUB_DATA_DIR"] = str(obj.data_dir)
    os.environ.setdefault("HUB_ALERTS_DAILY", "1")  # the daily alert digest (hub.notify.daily); 0 turns it off
    # The uvicorn factory reads its settings from the environment (hub.settings.Settings.from_env).
    if trusted_proxies:
        os.environ["HUB_TRUSTED_PROXIES"] = ",".join(trusted_proxies)
    for name, value in (("HUB_WARN_DAYS", warn_days), ("HUB_DANGER_DAYS", danger_days)):
        if value is not None:
            os.environ[name] = str(value)
    limit = raise_open_files_limit()
    if limit is not None and limit < OPEN_FILES_LOW:
        click.echo(
            f"警告：本进程最多只能打开 {limit} 个文件。全县代办点同时同步时，每个连接和每个数据库连接各占一个："
            "请提高上限（systemd 单元中 LimitNOFILE=65536，见 docs/hub.md）。",
            err=True,
        )
        click.echo(
            f"Warning: this process may open at most {limit} files. When the county's stations sync at once, "
            "each connection and each database connection takes one: raise the limit (LimitNOFILE=65536 in the "
            "systemd unit, docs/hub.md).",
            err=True,
        )
    with serving(obj.data_dir):  # 'hub restore' refuses while any 'hub serve' holds this
        _run_uvicorn(host, port, tls_cert, tls_key, workers)


OPEN_FILES_WANTED = 65536
"""The open-files limit ``hub serve`` raises itself to, within the hard limit: every station syncing holds a
socket and, while its request waits, a database connection (three files on SQLite: the database, its WAL and
shared memory). 395 stations at once took about 510 (docs/benchmarks.md); Debian's default of 1,024 would be
reached by a county twice that size."""

OPEN_FILES_LOW = 4096
"""Below this ``hub serve`` warns that the limit is too low for a county."""


def raise_open_files_limit(wanted: int = OPEN_FILES_WANTED) -> int | None:
    """Raise this process's soft limit of open files towards ``wanted`` (never past the hard limit, never
    lower); the limit now, or None when there is none (unlimited, or no such limit on this platform).
    Workers started after inherit it."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


GRACEFUL_SHUTDOWN_S = 10
"""Seconds ``hub serve`` gives running requests after SIGTERM (below the pool's 30 s wait for a connection)."""


def _run_uvicorn(host: str, port: int, tls_cert: Path | None, tls_key: Path | None, workers: int = 1) -> None:
    import uvicorn

    from hub.web.server import SERVER_OPTIONS  # no Date or Server header, no proxy headers, httptools and uvloop

    uvicorn.run(
        "hub.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        **SERVER_OPTIONS,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        # Each worker a process of its own (its own connection pool); uvicorn restarts one that dies. A worker
        # imports the whole hub before it answers the supervisor's first ping: seconds on a busy 2-core server,
        # past uvicorn's 5 s, after which it would kill the worker as hung, again and again.
        workers=workers if workers > 1 else None,
        timeout_worker_healthcheck=60,
        # SIGTERM: requests still running after this are cancelled, the app shuts down (closing the PostgreSQL
        # pool wakes requests waiting for a connection) and the process ends; PostgreSQL rolls back what a
        # request left open. Without it uvicorn waits for every request, however long it waits for a lock.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any interface


def _check_tls(cert: Path, key: Path) -> None:
    """Load the pair once before uvicorn does, so a wrong file is a clear error (exit 2), not a traceback."""
    try:
        # An empty password: a key under a passphrase fails here instead of prompting on the terminal.
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InputError(
            zh="TLS 证书与私钥无法一同加载：请检查两个 PEM 文件，以及私钥是否与证书匹配",
            en=f"the TLS certificate and key do not load together ({type(exc).__name__}); check both PEM "
            "files and that the key belongs to the certificate",
            field="tls",
        ) from None


# -- stations --------------------------------------------------------------------------------------


@main.group()
def station() -> None:
    """Enrol, list and revoke village stations."""


@station.command("add")
@click.option("--village", required=True, help="12-digit division code of the station's village.")
@click.option(
    "--device", default=None, help="Device letter to (re-)enrol; default: the village's next letter never given."
)
@click.option(
    "--expires-hours",
    type=float,
    default=DEFAULT_EXPIRES_HOURS,
    show_default=True,
    help="Hours the one-time code stays valid.",
)
@click.pass_obj
@handles_errors
def station_add(obj: Context, village: str, device: str | None, expires_hours: float) -> None:
    """Issue a one-time enrolment code; prints the code alone on the last line."""
    with obj.store() as store:
        issued = issue_code(store, village, device=device, expires_hours=expires_hours)
        place = store.divisions().village(issued.village_code)
    identity = load_identity(obj.data_dir)
    obj.say(
        f"村：{place.township_name_zh}{place.name_zh}（{issued.village_code}），设备代号 {issued.device}",
        f"Village: {place.name_zh}, {place.township_name_zh} ({issued.village_code}), device {issued.device}",
    )
    obj.say(
        f"县平台密钥指纹（请代办员核对）：{identity.fingerprint}",
        f"Hub key fingerprint (the agent compares it): {identity.fingerprint}",
    )
    until = china_time(issued.expires_at)  # China time, as the rest of the hub's output
    obj.say(f"登记码仅可使用一次，有效期至 {until} (UTC+8)：", f"One-time code, valid until {until} (UTC+8):")
    click.echo(issued.code)


@station.command("revoke")
@click.argument("station_id")
@click.option("--reason", default=None, help="Why (kept with the key; shown to administrators).")
@click.pass_obj
@handles_errors
def station_revoke(obj: Context, station_id: str, reason: str | None) -> None:
    """Revoke a station's key: its sets up to now stand, later ones are refused."""
    reason = check_text("reason", reason.strip(), label_zh="吊销理由") if reason else reason
    with obj.store() as store:
        item = revoke_station(store, station_id.strip(), reason=reason)
    obj.say(
        f"已吊销 {item.station_id}（密钥 {item.key_id}）；第 {item.after_seq} 批及以前的数据保留，之后的一律拒收",
        f"Revoked {item.station_id} (key {item.key_id}); sets up to {item.after_seq} stand, later ones are refused",
    )


@station.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def station_list(obj: Context, as_json: bool) -> None:
    """List stations: village, device, state, last contact, head seq reported, the hub's seq for it, key age.

    A key older than the dashboard's limit ($HUB_KEY_MAX_AGE_DAYS, else 365 days) is marked '!': change
    it at the station ('station rekey').
    """
    settings = Settings.from_env({**os.environ, "HUB_DATA_DIR": str(obj.data_dir)})
    with obj.store() as store:
        rows = [station_summary(store, s, settings.clock_skew_ms) for s in store.stations()]
    for row in rows:  # a key older than the dashboard's threshold is marked, as a skewed clock is
        row["key_old"] = row["state"] != "revoked" and row["key_age_s"] > settings.key_max_age_days * 86400
    if as_json:
        click.echo(json_for_terminal(json_text(rows)))
        return
    if not rows:
        obj.say("还没有注册的代办点。", "No stations enrolled yet.")
        return
    table = Table(
        *[
            pick(obj.lang, zh, en)
            for zh, en in (
                ("代办点", "station"),
                ("状态", "state"),
                ("最近联系(UTC+8)", "last contact (UTC+8)"),
                ("本地最新批次", "head seq"),
                ("平台已收批次", "hub seq"),
                ("待发", "outbox"),
                ("下发位置", "feed"),
                ("时钟偏差", "clock"),
                ("版本", "software"),
                ("密钥已用", "key age"),
                ("最近错误", "last error"),
            )
        ]
    )
    for r in rows:
        state = r["state"] if obj.lang == "en" else {"enrolled": "在用", "revoked": "已吊销"}[r["state"]]
        clock = clock_offset_text(r["clock_offset_ms"], obj.lang) + (" !" if r["clock_skewed"] else "")
        # Cells as Text: what a station sent ("[/x]" as its software) is shown, never read as markup.
        table.add_row(
            *(
                terminal_cell(v)
                for v in (
                    r["station_id"],
                    state,
                    china_time(r["last_contact"]) or "-",
                    text(r["head_seq"]),
                    str(r["applied_seq"]),
                    text(r["outbox_length"]),
                    f"{r['feed_acked']}/{r['feed_seq']}",
                    clock,
                    r["software"],
                    duration_text(r["key_age_s"], obj.lang) + (" !" if r["key_old"] else ""),
                    label("error", r["last_error"], obj.lang),
                )
            )
        )
    # A narrow terminal loses the feed position and sequence numbers first, never the station or its state.
    obj.out.print(fit_table(obj.out, table, drop=(6, 3, 4, 8, 9, 5, 7)))


# -- cases -------------------------------------------------------------------------------------------


@main.group()
def case() -> None:
    """List cases and record county decisions."""


@case.command("list")
@click.option("--village", default=None, help="Only this village's cases (12-digit code).")
@click.option(
    "--status",
    type=click.Choice([s.value for s in Status], case_sensitive=False),
    default=None,
    help="Only cases in this status.",
)
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON array).")
@click.pass_obj
@handles_errors
def case_list(obj: Context, village: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List cases, newest first; names, ID and phone numbers are masked."""
    with obj.store() as store:
        rows = [
            case_summary(r)
            for r in store.list_cases(village_code=village, status=status.upper() if status else None, limit=limit)
        ]
    if as_json:
        click.echo(json_for_terminal(json_text(rows)))
        return
    if not rows:
        obj.say("没有符合条件的办件。", "No cases match.")
        return
    table = Table(
        *[
            pick(obj.lang, zh, en)
            for zh, en in (
                ("办件编号", "case"),
                ("状态", "status"),
                ("事项", "item"),
                ("申请人", "applicant"),
                ("身份证号", "ID number"),
                ("电话", "phone"),
                ("收件日期", "received"),
                ("办结时限", "due"),
            )
        ]
    )
    for r in rows:
        table.add_row(
            *(
                terminal_cell(v)
                for v in (
                    r["case_no"],
                    status_label(r["status"], obj.lang),
                    r["item_code"],
                    r["applicant_masked"],
                    r["id_number_masked"],
                    r["phone_masked"],
                    r["received_date"],
                    r["due_date"] or "-",
                )
            )
        )
    # Below ~120 columns the phone, the received date and the ID number give way; the case number stays whole.
    obj.out.print(fit_table(obj.out, table, drop=(5, 6, 4)))


@case.command("decide")
@click.argument("case_no")
@click.option("--status", required=True, help=f"New status: a status name, or one of {', '.join(ALIASES)}.")
@click.option(
    "--actor",
    type=click.Choice(["department", "township"]),
    default="department",
    show_default=True,
    help="Who decides.",
)
@click.option("--by", default=None, help="Name of the reviewer.")
@click.option("--reason", default=None, help="Reason (needed to refuse; added to a correction notice).")
@click.option("--outcome", type=click.Choice(["approved", "denied"]), default=None, help="complete: the result.")
@click.option("--missing", "missing", multiple=True, help="correct: a missing material. Repeatable: list them all.")
@click.pass_obj
@handles_errors
def case_decide(
    obj: Context,
    case_no: str,
    status: str,
    actor: str,
    by: str | None,
    reason: str | None,
    outcome: str | None,
    missing: tuple[str, ...],
) -> None:
    """Record a county decision on a case; it goes down to the village's stations."""
    with obj.store() as store:
        d = decide(store, case_no, status, actor=actor, by=by, reason=reason, outcome=outcome, missing=missing)
    obj.say(
        f"{d.case_no}：{status_label(d.from_status)} → {status_label(d.status)}（已发往 {d.stations} 个代办点）",
        f"{d.case_no}: {d.from_status} -> {d.status} (sent to {d.stations} station(s))",
    )
    if d.due_date:
        obj.say(f"办结时限：{d.due_date}", f"Due: {d.due_date}")
    click.echo(f"{d.case_no} {d.status}")


# -- files -------------------------------------------------------------------------------------------


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_errors
def import_(obj: Context, file: Path) -> None:
    """Ingest a station's transfer file (USB): the same checks as a push."""
    identity = load_identity(obj.data_dir)
    with obj.store() as store:
        transfer, response = import_file(store, identity, file)
        scans = import_scan_parts(store, obj.data_dir, list(identity.box_privates), file, utc_now())
    if scans.parts:
        obj.say(
            f"扫描件：{scans.parts} 个文件，收下 {scans.taken} 块，{scans.pages} 页已收齐，拒收 {scans.refused} 块",
            f"Scans: {scans.parts} part(s), {scans.taken} chunks taken, {scans.pages} pages complete, "
            f"{scans.refused} chunks refused",
        )
    for r in response.results:
        # The station id comes from the file. In Chinese, the set's fate and the reason by its code
        # (the detail the hub writes is English, for the protocol's readers).
        reason = label("error", r.code, obj.lang) if r.code and r.code != r.status else ""
        obj.say(
            printable(
                f"{transfer.station_id} 第 {r.seq} 批：{label('set', r.status)}" + (f"（{reason}）" if reason else "")
            ),
            printable(f"{transfer.station_id} #{r.seq}: {r.status}" + (f" ({r.code}: {r.detail})" if r.code else "")),
        )
    failed = [r for r in response.results if r.status not in ("accepted", "duplicate")]
    obj.say(f"下一批应为第 {response.next_seq} 批", f"Next seq needed: {response.next_seq}")
    if failed:
        first = failed[0]
        problem = pick(
            obj.lang,
            f"第 {first.seq} 批{label('set', first.status)}：{label('error', first.code or first.status)}",
            first.detail or first.status,
        )
        click.echo(pick(obj.lang, "错误：", "Error: ") + printable(problem), err=True)
        sys.exit(1)


@main.command("export")
@click.option("--station", "station_id", required=True, help="Station id, e.g. 349921001001-A-1.")
@click.option(
    "--after",
    type=int,
    default=None,
    help="Write feed sets after this seq (default: the station's last known feed position).",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_errors
def export(obj: Context, station_id: str, after: int | None, file: Path) -> None:
    """Write a station's feed to a transfer file (USB), sealing what is pending first."""
    identity = load_identity(obj.data_dir)
    with obj.store() as store:
        result = export_file(store, identity, station_id.strip(), file, after=after)
    span = f"{result.first_seq}-{result.last_seq}" if result.sets else "-"
    obj.say(
        f"已写入 {result.path}：{result.sets} 批（{span}），起点 {result.after}",
        f"Wrote {result.path}: {result.sets} set(s) ({span}) after {result.after}",
    )


station.add_command(station_codes)
station.add_command(station_void)
main.add_command(user)
main.add_command(token)
main.add_command(department)
main.add_command(status)
for _command in BACKUP_COMMANDS:
    main.add_command(_command)
main.add_command(calendar)
main.add_command(catalog)
main.add_command(forks)
main.add_command(alerts)
main.add_command(joint)
main.add_command(key)
case.add_command(attachments)
main.add_command(county)
main.add_command(upstream)
main.add_command(migrate)
for _group in RATING_GROUPS:  # hub figures export, hub ratings
    main.add_command(_group)


if __name__ == "__main__":  # pragma: no cover
    main()
