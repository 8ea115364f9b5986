"""Enrolling with the county hub: a one-time code, a key pair made here, the hub's keys pinned."""

from __future__ import annotations

import datetime as dt
import hmac
import string
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec

from station.agent import clean_agent_name
from station.errors import SyncError
from station.hubhttp import DEFAULT_TIMEOUT, ENROLL_PATH, hub_error, make_client, unreachable, url
from station.identity import MIN_PASSPHRASE, hub_pins, save_keypair
from station.identity import passphrase as ask_passphrase  # the parameter is called passphrase
from station.ratings import publish_query_key
from station.sealing import HUB_FEATURES_META
from station.store import DB_FILE, Station
from station.store.db import write_txn
from station.store.outbox import recording
from sync.crypto import CryptoError, KeyPair, fingerprint, key_id_of, open_box
from sync.divisions import parse_division_code
from sync.enrolment import CODE_ALPHABET, request_mac, response_mac, split_code
from sync.errors import InputError
from sync.protocol import MEDIA_TYPE, PROTOCOL_VERSION, STATION_FEATURES, EnrollRequest, EnrollResponse
from sync.tables import TABLE_NAMES
from sync.timeutil import iso_utc, utc_now
from sync.version import SOFTWARE_VERSION

__all__ = ("CODE_ALPHABET", "EnrollCode", "EnrollResult", "enroll", "parse_code")


class EnrollCode(msgspec.Struct, frozen=True):
    code_id: str
    """The first group: names the code at the hub (it travels)."""
    secret: bytes
    """The other twelve characters: the HMAC key that proves the code (it never travels)."""


class EnrollResult(msgspec.Struct, frozen=True, kw_only=True):
    station_id: str
    village_code: str
    device: str
    hub_url: str
    hub_id: str
    hub_fingerprint: str
    """For the agent to compare with what the administrator's screen shows."""
    created: bool
    """True when enrolment created the data folder."""
    rehashed: int
    """Cases whose ID lookup hash was recomputed under the county's key."""
    agent_name: str = ""
    """The agent working at this PC as now recorded ('' when none was ever given)."""


def parse_code(code: str) -> EnrollCode:
    """Split ``XXXX-XXXX-XXXX-XXXX`` into its id and secret; InputError when it is not one."""
    code_id, secret = split_code(code)
    return EnrollCode(code_id=code_id, secret=secret)


def enroll(
    data_dir: Path | str,
    *,
    hub_url: str,
    code: str,
    passphrase: str | None = None,
    agent_name: str = "",
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    now: Callable[[], dt.datetime] = utc_now,
    key_work: int = 2**15,
) -> EnrollResult:
    """Enrol this data folder with the hub (docs/protocol.md, "Enrolment").

    Makes the station's key pair, proves the code without sending its secret, checks that the
    answer proves it too (a machine in the middle cannot substitute its own hub key), pins the
    hub keys, installs the county's ID-lookup key (re-hashing every case) and takes the hub's
    station id. A folder without a station is created for the hub's village and device letter;
    one with a station must be of that village and device. ``passphrase`` wraps the new key;
    when None it comes from ``$STATION_PASSPHRASE`` or is asked for twice at the terminal.
    ``agent_name`` is the agent working at this PC (history lines name them); an empty one keeps
    the name a station already has.

    Raises:
        InputError: malformed code or address, short passphrase, already enrolled, or the code
            is for another village or device; nothing was changed.
        SyncError: the hub is unreachable or refused the code (``enroll_code``), or its answer
            does not check out; nothing was changed.
    """
    data_dir = Path(data_dir)
    parsed = parse_code(code)
    agent_name = clean_agent_name(agent_name)
    hub_url = hub_url.strip()
    if not hub_url.startswith(("http://", "https://")):
        raise InputError(
            zh=f"县平台地址应以 http:// 或 https:// 开头（收到 {hub_url!r}）",
            en=f"the hub address must start with http:// or https:// (got {hub_url!r})",
            field="hub",
        )
    if passphrase is None:
        passphrase = ask_passphrase(confirm=True)
    if len(passphrase) < MIN_PASSPHRASE:
        raise InputError(
            zh=f"本站密钥口令至少需要 {MIN_PASSPHRASE} 个字符",
            en=f"the station passphrase must be at least {MIN_PASSPHRASE} characters",
            field="passphrase",
        )
    station = Station.open(data_dir, passphrase=passphrase, now=now) if (data_dir / DB_FILE).exists() else None
    try:
        if station is not None:
            _check_can_enrol(station)
        keys = KeyPair.generate()
        answer = _ask_hub(hub_url, parsed, keys, transport, timeout)
        lookup_key = _check_answer(answer, parsed, keys)
        created = station is None
        if station is None:
            station = Station.init(
                data_dir,
                village_code=answer.village_code,
                device=answer.device,
                agent_name=agent_name,
                station_id=answer.station_id,
                passphrase=passphrase,
                now=now,
            )
        else:
            _check_same_station(station, answer)
        save_keypair(data_dir, keys, passphrase, work=key_work)
        with write_txn(station.db):  # the county's lookup key goes in with the hashes made under it
            _adopt_station_id(station, answer.station_id)
            station.meta.update(
                {
                    "hub_url": hub_url,
                    "hub_id": answer.hub_id,
                    "hub_sign_public": answer.hub_sign_public.hex(),
                    "hub_box_public": answer.hub_box_public.hex(),
                    "enrolled_at": iso_utc(now()),
                    "request_counter": 0,
                    "feed_seq": 0,
                    **({"agent_name": agent_name} if agent_name else {}),
                    HUB_FEATURES_META: answer.features,  # so the first sync is already compact
                },
            )
            rehashed = station.rehash_ids(lookup_key)
            # A PC taking over a device letter numbers its cases after those the county holds under it.
            _counters_past(station, answer.case_numbers)
            with recording(station.db, now, answer.station_id) as rec:
                publish_query_key(station, rec)  # once, so the first day's sets carry no key (sync.ratings)
        station.reload_lookup_key()
        station.station_id = answer.station_id
        return EnrollResult(
            station_id=answer.station_id,
            village_code=answer.village_code,
            device=answer.device,
            hub_url=hub_url,
            hub_id=answer.hub_id,
            hub_fingerprint=fingerprint(answer.hub_sign_public),
            created=created,
            rehashed=rehashed,
            agent_name=agent_name or station.agent_name,
        )
    finally:
        if station is not None:
            station.close()


def _check_can_enrol(station: Station) -> None:
    pins = hub_pins(station.db)
    if pins is not None:
        raise InputError(
            zh=f"本站已在县平台 {pins.url} 登记（{station.station_id}），未做任何更改",
            en=f"this station is already enrolled with {pins.url} as {station.station_id}; nothing was changed",
            field="code",
            code="enroll.already",
        )
    if station.db.execute("SELECT 1 FROM sets_out LIMIT 1").fetchone():
        raise InputError(
            zh="本站已封装过数据集，站点编号不能再更改",
            en="this station has sealed change sets already, so its station id can no longer change",
            field="code",
            code="enroll.sealed",
        )


def _ask_hub(
    hub_url: str, parsed: EnrollCode, keys: KeyPair, transport: httpx.BaseTransport | None, timeout: float
) -> EnrollResponse:
    request = EnrollRequest(
        protocol=PROTOCOL_VERSION,
        code_id=parsed.code_id,
        sign_public=keys.sign_public,
        box_public=keys.box_public,
        software=SOFTWARE_VERSION,
        mac=request_mac(parsed.secret, keys.sign_public, keys.box_public),
        features=STATION_FEATURES,
    )
    try:
        with make_client(transport, timeout) as client:
            response = client.post(
                url(hub_url, ENROLL_PATH), content=msgspec.msgpack.encode(request), headers={"Content-Type": MEDIA_TYPE}
            )
    except httpx.TransportError as exc:
        raise unreachable(hub_url, exc) from None
    if response.status_code != 200:
        error = hub_error(response)
        if error.code == "enroll_code":
            raise SyncError(
                zh="县平台拒绝了登记码：登记码不存在、已使用、已过期或输入有误；请核对，或向县管理员申请新的登记码",
                en="the hub refused the enrolment code: unknown, already used, expired or mistyped; "
                "check it, or ask the county administrator for a new one",
                code="enroll_code",
            )
        raise error
    try:
        return msgspec.msgpack.decode(response.content, type=EnrollResponse)
    except (msgspec.DecodeError, ValueError) as exc:  # ValueError: a string that is not UTF-8
        raise SyncError(
            zh=f"县平台的登记答复格式错误（{exc}）",
            en=f"the hub's enrolment answer is malformed ({exc})",
            code="malformed",
        ) from None


def _check_answer(answer: EnrollResponse, parsed: EnrollCode, keys: KeyPair) -> bytes:
    """Check the answer proves the code and holds usable keys; return the county's lookup key."""
    if not hmac.compare_digest(response_mac(parsed.secret, answer), answer.mac):
        raise SyncError(
            zh="答复无法证明持有该登记码：可能并非来自县平台（中间人？）；未保存任何内容。请核对县平台地址",
            en="the answer does not prove knowledge of the enrolment code: it may not come from the county hub "
            "(a machine in the middle?); nothing was saved. Check the hub address",
            code="enroll_mac",
        )
    if answer.hub_id != key_id_of(answer.hub_sign_public):
        raise SyncError(zh="县平台编号与其密钥不符", en="the hub's id does not match its key", code="enroll_mac")
    try:
        lookup_key = open_box(keys.box_private, answer.lookup_key_box, b"lookup-key/" + answer.station_id.encode())
    except CryptoError as exc:
        raise SyncError(
            zh=f"无法解开县级查询密钥：{exc.zh}", en=f"the county's lookup key does not open: {exc.en}", code="bad_box"
        ) from None
    if len(lookup_key) != 32:
        raise SyncError(
            zh="县级查询密钥长度不是 32 字节", en="the county's lookup key is not 32 bytes", code="malformed"
        )
    code = parse_division_code(answer.village_code)
    device = answer.device
    if code.level != "village" or len(device) != 1 or device not in string.ascii_uppercase:
        raise SyncError(
            zh=f"县平台分配的村代码 {answer.village_code!r}、设备 {device!r} 无效",
            en=f"the hub assigned village {answer.village_code!r}, device {device!r}: not a village and one letter",
            code="malformed",
        )
    return lookup_key


def _check_same_station(station: Station, answer: EnrollResponse) -> None:
    if (station.village_code, station.device) != (answer.village_code, answer.device):
        raise InputError(
            zh=f"该登记码对应村 {answer.village_code}、设备 {answer.device}，而本数据目录属于村 {station.village_code}、"
            f"设备 {station.device}；未保存任何内容。请向县管理员申请本村本设备的登记码",
            en=f"this code enrols village {answer.village_code} device {answer.device}, but this data folder holds "
            f"village {station.village_code} device {station.device}; nothing was saved. Ask the county administrator "
            "for a code for this village and device letter",
            field="code",
            code="enroll.other_station",
        )


def _counters_past(station: Station, numbers: list[tuple[str, int]]) -> None:
    """Move each day's case-number counter past the highest number the hub holds for this village and
    device letter that day (``EnrollResponse.case_numbers``): a PC replacing one never mints a number
    its predecessor used, whatever the day its clock says."""
    for day, last in numbers:
        if not (isinstance(day, str) and len(day) == 10 and isinstance(last, int) and 0 < last < 10**9):
            continue  # not a day and a counter this station could have numbered under: ignored
        station.db.execute(
            "INSERT INTO counters (day, last) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET last = MAX(last, excluded.last)",
            [day, last],
        )


def _adopt_station_id(station: Station, station_id: str) -> None:
    """Take the hub's station id as this station's origin, also where our field versions name it."""
    old = station.station_id
    if old == station_id:
        return
    station.meta.update({"station_id": station_id})
    # Versions are JSON like {"phone": [hlc, "ORIGIN"]}: replacing the quoted id is exact.
    for table in TABLE_NAMES:
        station.db.execute(
            f"UPDATE {table} SET versions = replace(versions, json_quote(?), json_quote(?)) WHERE versions IS NOT NULL",
            [old, station_id],
        )
    station.db.execute("UPDATE case_events SET origin = ? WHERE origin = ?", [station_id, old])
