"""The JSON shapes of the dashboard API, as msgspec Structs so the OpenAPI schema at /schema describes them."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example

from hub.province_view import ProvinceStatus

__all__ = (
    "AuditEntry",
    "CaseDetail",
    "CaseSummary",
    "CommitmentFigures",
    "ContactInfo",
    "DecisionRequest",
    "DepartmentInfo",
    "ErrorBody",
    "FigureLine",
    "Figures",
    "Me",
    "StationDetail",
    "StationStatus",
    "StatusFilters",
    "StatusReport",
    "StatusSummary",
    "StatusThresholds",
    "TownshipStatus",
    "error_responses",
)


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Every error the hub answers (hub/web/errors.py): a stable code and the reason in English and Chinese.

    Some codes add fields: ``bad_input`` the ``field`` at fault and its ``reason`` code,
    ``illegal_transition`` the case's ``from_status`` and the ``to_status`` asked for,
    ``rate_limited`` ``retry_after`` (seconds, also the Retry-After header).
    """

    error: str
    detail: str
    detail_zh: str
    field: str | None = None
    reason: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    retry_after: int | None = None


_ERRORS: dict[int, tuple[str, dict[str, object]]] = {
    400: (
        "`malformed`: a parameter or the body is not of the declared type or shape; `bad_input`: a value "
        "is out of range or refused (`field` and `reason` when a rule of the case refused it)",
        {
            "error": "bad_input",
            "detail": "limit must be 1..1000 and offset >= 0",
            "detail_zh": "limit 应在 1 到 1000 之间，offset 不能为负",
        },
    ),
    401: (
        "`unauthenticated`: no bearer token or session, or an unknown or expired one",
        {
            "error": "unauthenticated",
            "detail": "log in, or send a valid bearer token",
            "detail_zh": "请先登录，或提供有效的令牌",
        },
    ),
    403: (
        "`forbidden`: the account's role may not do this; `csrf`: a session's write without its X-CSRF-Token",
        {"error": "forbidden", "detail": "this needs the role admin", "detail_zh": "无权访问：需要管理员账号"},
    ),
    404: (
        "`not_found`: no such case or station (for a department: none of its own)",
        {"error": "not_found", "detail": "no station ST-1", "detail_zh": "没有代办点 ST-1"},
    ),
    409: (
        "`illegal_transition`: the case's lifecycle forbids this move (`from_status`, `to_status`)",
        {
            "error": "illegal_transition",
            "detail": "a case cannot go from ACCEPTED to RECEIVED",
            "detail_zh": "办件不能从“已受理”变为“已收件”",
            "from_status": "ACCEPTED",
            "to_status": "RECEIVED",
        },
    ),
    410: (
        "`peer_too_old`: the station's software is older than the hub supports (its 0.3 push or feed); "
        "install the release named",
        {
            "error": "peer_too_old",
            "detail": "this station's software is older than the hub supports; install release 0.4 or newer "
            "(the data stays at the station and goes up after the upgrade)",
            "detail_zh": "本站软件版本过旧，县平台已不再支持；请安装 0.4 或更新的版本（数据保存在本站，升级后继续上报）",
        },
    ),
    413: (
        "`too_large`: the body is over the hub's size limit",
        {
            "error": "too_large",
            "detail": "the body is over the size limit (8 MB)",
            "detail_zh": "请求内容超过大小限制（8 MB）",
        },
    ),
    415: (
        "`unsupported_media_type`: not `application/vnd.msgpack`, or a content encoding the endpoint does not take",
        {
            "error": "unsupported_media_type",
            "detail": "send application/vnd.msgpack, not text/plain",
            "detail_zh": "请求类型应为 application/vnd.msgpack",
        },
    ),
    429: (
        "`rate_limited`: too many requests from this address; try again after `retry_after` seconds",
        {
            "error": "rate_limited",
            "detail": "too many attempts from this address; try again in 60 s",
            "detail_zh": "该地址尝试次数过多，请 60 秒后重试",
            "retry_after": 60,
        },
    ),
    503: (
        "`busy`: the hub's database is busy; try again shortly",
        {"error": "busy", "detail": "the hub database is busy; try again", "detail_zh": "县平台数据库正忙；请稍后重试"},
    ),
}
"""What each error status of the API means (its codes, as in hub.web.errors.STATUS_FOR_CODE) and an example body."""


PROTOCOL_ERRORS: dict[int, str] = {
    400: "`malformed` or `protocol_version` (docs/protocol.md, Errors)",
    401: "`unauthenticated` (a request signature or MAC missing or wrong) or `unknown_key`",
    403: "`revoked_key`, `wrong_origin`, or (enrolment) `enroll_code`",
    409: "`replay`: the request counter is not above the last one seen",
    410: "`peer_too_old`: 0.3's push and feed are gone; a station of 0.4 or newer syncs with `POST /api/v1/sync` "
    "(docs/protocol.md, Support window)",
    413: "`too_large`: the body, its inflation, or the sets in it are over a limit (docs/security.md, Limits)",
    503: "`busy`: the hub is inflating other bodies, or its database is busy; try again",
}
"""What the station protocol's error statuses mean, where they differ from the JSON API's."""


def error_responses(*statuses: int, protocol: bool = False) -> dict[int, ResponseSpec]:
    """The ``responses`` of a handler: ``ErrorBody`` for each of ``statuses`` it can answer.

    ``protocol``: a station protocol endpoint, whose codes are described by :data:`PROTOCOL_ERRORS`.

    A 400 declared here also replaces Litestar's default 400 (``{status_code, detail, extra}``),
    which the hub never answers: its exception handlers turn every error into ``ErrorBody``.
    """
    described = {**{status: text for status, (text, _) in _ERRORS.items()}, **(PROTOCOL_ERRORS if protocol else {})}
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=described[status],
            generate_examples=False,
            examples=[Example(id=str(_ERRORS[status][1]["error"]), value=_ERRORS[status][1])],
        )
        for status in statuses
    }


class StationStatus(msgspec.Struct, kw_only=True):
    """One row of the station table: a station, or a village without one (``state`` = not_enrolled).

    Times are UTC ISO 8601; ages in seconds; ``gap`` = head_seq − applied_seq (negative: the station
    holds fewer sets than the hub, e.g. restored from a backup). ``state`` is the row's one status, the
    worst of its contact state and its ``attention`` flags (a skewed clock makes a warning);
    ``contact_state`` is what the time since the last contact alone says (none for a village without one).
    """

    township_code: str
    township_name: str
    village_code: str
    village_name: str
    station_id: str | None
    device: str | None
    state: str
    attention: list[str]
    contact_state: str | None
    enrolled_at: str | None
    revoked_at: str | None
    last_contact: str | None
    contact_age_s: int | None
    last_push: str | None
    last_pull: str | None
    head_seq: int | None
    applied_seq: int | None
    gap: int | None
    sets_waiting: int | None
    changes_waiting: int | None
    waiting_since: str | None
    waiting_age_s: int | None
    clock_offset_ms: int | None
    clock_skewed: bool
    software: str | None
    last_error: str | None
    last_error_at: str | None
    forks: int
    rejected: int
    revoked_keys: int
    feed_seq: int | None
    feed_acked: int | None
    feed_pending: int | None
    key_age_s: int | None = None
    """How long the station has had its key (since enrolment or its last ``station rekey``)."""
    catalog_version: int | None = None
    """The newest catalogue version the station holds (it acknowledged the feed set carrying it)."""
    catalog_behind_s: int | None = None
    """How long a newer catalogue version has waited for it (none when it holds the newest)."""
    catalog_failure: str | None = None
    """Why the station could not install a catalogue version it was sent, as a code (``base_missing``,
    ``base_differs``, ``patch_failed``, ``digest_differs``, ``invalid``; hub.catalog_report), none when it could."""


class TownshipStatus(msgspec.Struct, kw_only=True):
    """The township roll-up: villages, enrolled villages, rows per state, what waits, forks; its worst state."""

    township_code: str
    township_name: str
    villages: int
    villages_enrolled: int
    stations: int
    danger: int
    warning: int
    never: int
    ok: int
    revoked: int
    not_enrolled: int
    sets_waiting: int
    changes_waiting: int
    forks: int
    rejected: int
    worst: str


class StatusSummary(msgspec.Struct, kw_only=True):
    """Rows per state over the whole county, whatever the filters."""

    danger: int
    warning: int
    never: int
    ok: int
    revoked: int
    not_enrolled: int
    villages: int
    villages_enrolled: int
    attention: int


class StatusThresholds(msgspec.Struct, kw_only=True):
    """Days without contact for a warning and for danger; the clock-skew limit."""

    warn_days: float
    danger_days: float
    clock_skew_ms: int
    catalog_days: float = 7.0
    """A station on an older catalogue this long after a newer one was published is flagged (``catalog_old``)."""
    key_max_age_days: float = 365.0
    """A station key older than this is flagged (``key_old``)."""


class StatusFilters(msgspec.Struct, kw_only=True):
    """The filters and order the rows were chosen with."""

    township: str | None
    state: str | None
    sort: str
    order: str


class StatusReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``GET /api/v1/status``: what ``hub status`` prints."""

    generated_at: str
    thresholds: StatusThresholds
    filters: StatusFilters
    summary: StatusSummary
    townships: list[TownshipStatus]
    stations: list[StationStatus]
    province: ProvinceStatus | None = None
    """At a province hub (``hub init --role province``): its counties rolled up (hub.province_view); absent at a county."""


class ContactInfo(msgspec.Struct, kw_only=True):
    """One contact of a station (counters and codes only)."""

    at: str
    kind: str
    ok: bool
    code: str | None = None
    sets: int = 0
    head_seq: int | None = None
    outbox_length: int | None = None
    clock_offset_ms: int | None = None
    software: str | None = None
    feed_after: int | None = None


class StationDetail(StationStatus, kw_only=True):
    """A station's row with its recent contacts, open forks and rejected changes (codes, no reasons)."""

    contacts: list[ContactInfo]
    open_forks: list[dict[str, object]]
    rejected_by_code: dict[str, int]
    rejected_recent: list[dict[str, object]]
    resolved_forks: list[dict[str, object]] = []
    """Forks the county resolved (``hub forks resolve``): the branch kept, when and by whom."""


class FigureLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Case counts without personal data.

    completion_rate = completed ÷ accepted; avg_working_days from acceptance to completion, pauses
    not counted.
    """

    received: int
    accepted: int
    not_accepted: int
    withdrawn: int
    open: int
    completed: int
    overdue: int
    completion_rate: float | None
    avg_working_days: float | None
    due_soon: int
    """Open cases (clock running) due today or within 1 working day: not yet overdue."""
    department: str | None = None
    name_zh: str | None = None
    name_en: str | None = None
    township_code: str | None = None
    township_name: str | None = None


class CommitmentFigures(msgspec.Struct, kw_only=True):
    """Open 容缺 commitments, and how many are past their due date."""

    open: int
    overdue: int


class Figures(msgspec.Struct, kw_only=True):
    """``GET /api/v1/figures``: county totals, by department, by township, and open 容缺 commitments."""

    as_of: str
    total: FigureLine
    by_department: list[FigureLine]
    by_township: list[FigureLine]
    commitments: CommitmentFigures


class CaseSummary(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A case in a list.

    Administrators get no applicant fields at all; departments get the name and the ID and phone
    numbers masked.
    """

    case_no: str
    status: str
    outcome: str | None
    village_code: str
    item_code: str
    bundle_code: str | None
    received_date: str
    accepted_date: str | None
    due_date: str | None
    applicant_name: str | None = None
    id_number_masked: str | None = None
    phone_masked: str | None = None
    due_provisional: bool | None = None
    overdue: bool | None = None


class CaseDetail(CaseSummary, kw_only=True, omit_defaults=True):
    """One case for its department; ``id_number`` and ``phone`` only with ``?reveal=true`` (audited)."""

    item_name: str | None = None
    place: str | None = None
    sex: str | None = None
    birth_date: str | None = None
    received_at: str | None = None
    catalog_version: int | None = None
    id_number: str | None = None
    phone: str | None = None
    revealed: bool = False
    materials: list[str] = []
    intake_materials: list[dict[str, object]] = []
    commitments: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    due_moves: list[dict[str, object]] = []
    """Due dates a published calendar year moved (the case's and its 容缺 commitments'), with the history line."""
    actions: list[dict[str, str]] = []


class AuditEntry(msgspec.Struct, kw_only=True):
    """Who saw which fields of which case in full, when, from where (never the values)."""

    at: str
    user_name: str
    department: str | None
    action: str
    case_no: str
    fields: str
    ip: str | None


class Me(msgspec.Struct, kw_only=True):
    """The account behind the request."""

    name: str
    role: str
    department: str | None
    via: str


class DecisionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/cases/{case_no}/decision`` (admin JSON: unknown fields are refused)."""

    status: str
    reason: str | None = None
    outcome: str | None = None
    missing: list[str] = []


class DepartmentInfo(msgspec.Struct, kw_only=True):
    """A department key from the catalogue, its display names and items."""

    key: str
    name_zh: str
    name_en: str
    names_zh: list[str]
    items: list[str]
