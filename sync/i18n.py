"""Language choice for user-facing text: Chinese (zh) by default, English (en) on request."""

from __future__ import annotations

import os

__all__ = ("LABELS", "LANGS", "label", "pick", "resolve_lang")

LANGS = ("zh", "en")


def resolve_lang(explicit: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The language to speak: an explicit choice, else ``LANG``/``LC_ALL`` starting with "en", else zh.

    Only English is recognised from the environment: every other locale (C, POSIX, zh_CN…)
    keeps the Chinese default, since the users are Chinese village agents.
    """
    if explicit:
        lang = explicit.lower()
        if lang.startswith("en"):
            return "en"
        return "zh"
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LANG"):
        value = env.get(var, "")
        if value:
            return "en" if value.lower().startswith("en") else "zh"
    return "zh"


def pick(lang: str, zh: str, en: str) -> str:
    """Choose between a Chinese and an English text."""
    return en if lang == "en" else zh


# (Chinese, English), or the Chinese alone where the English is the code itself.
_TABLE: dict[str, dict[str, str | tuple[str, str]]] = {
    "outcome": {"approved": ("准予", "approved"), "denied": ("不予", "denied")},
    "sex": {"M": ("男", "male"), "F": ("女", "female")},
    "material": {
        "presented": ("已收", "received"),
        "deferred": ("容缺待补", "deferred"),
        "supplied": ("已补交", "supplied"),
        "exempt": ("免提交", "exempt (data sharing)"),
        "not_provided": ("未提供", "not provided"),
    },
    "commitment": {"open": ("待补交", "open"), "fulfilled": ("已履行", "fulfilled"), "overdue": ("已逾期", "overdue")},
    "role": {"admin": "管理员", "department": "部门", "township": "乡镇"},
    "level": {
        "village": ("村代办点办理中", "at the village station"),
        "township": ("乡镇审核中", "under township review"),
        "township_initial": ("乡镇初审中", "township initial review"),
        "county": ("县级部门审核中", "under county department review"),
    },
    "opinion": {
        "consent": ("同意", "consent"),
        "object": ("不同意", "objection"),
        "deemed_consent": ("缺席默认（系统，视为同意）", "deemed consent (by the system, no answer in time)"),
    },
    # Set results, tables and error codes: in English the code itself (what docs/protocol.md lists).
    "set": {
        "accepted": "已接收",
        "duplicate": "此前已接收",
        "gap": "缺少前面的批次",
        "fork": "分叉，已隔离",
        "refused": "被拒收",
    },
    "table": {
        "intakes": "收件",
        "intake_materials": "收件材料",
        "commitments": "容缺承诺",
        "cases": "办件",
        "case_notes": "办件备注",
        "query_keys": "查询密钥",
        "ratings": "好差评",
    },
    # Fields a person may meet by name: revealed on the desk (the audit log), or in a merge conflict.
    "field": {
        "id_number": ("身份证号", "ID number"),
        "phone": ("电话", "phone"),
        "applicant_name": "申请人姓名",
        "sex": "性别",
        "birth_date": "出生日期",
        "state": "状态",
        "status": "状态",
        "outcome": "结果",
        "name_zh": "名称",
        "material": "材料",
        "signer_name": "承诺人",
        "signed_at": "承诺时间",
        "due_days": "补交期限（工作日）",
        "closed_at": "履行时间",
        "agent": "代办员",
        "author": "填写人",
        "text": "内容",
        "accepted_date": "受理日期",
        "updated_at": "更新时间",
    },
    "origin": {"hub": "县平台"},
    # Error codes of the protocol and of rejected changes (docs/protocol.md, "Errors"): what the
    # dashboard, `hub status` and `hub import` show for a failed contact, set or change.
    "error": {
        "malformed": "格式错误",
        "protocol_version": "协议版本不受支持",
        "too_large": "超出大小限制",
        "busy": "县平台繁忙",
        "unsupported_media_type": "请求类型错误",
        "unauthenticated": "请求签名缺失或无效",
        "unknown_key": "密钥未登记",
        "revoked_key": "密钥已吊销",
        "retired_key": "密钥已更换，旧密钥作废",
        "bad_key_change": "新密钥交接无效",
        "stale_keys": "本站密钥已更换，请重新解锁",
        "wrong_origin": "来源代办点不符",
        "replay": "请求重复（疑似重放）",
        "peer_too_old": "软件版本过旧",
        "hub_too_old": "县平台版本过旧",
        "bad_signature": "签名校验失败",
        "bad_box": "无法解密",
        "gap": "缺少前面的批次",
        "fork": "分叉",
        "enroll_code": "登记码无效",
        "rate_limited": "尝试过于频繁",
        "too_long": "文字过长",
        "control_character": "含控制字符",
        "row_missing": "记录不存在",
        "duplicate_row": "记录重复",
        "parent_refused": "所属记录已被拒收",
        "status_by_row": "状态只能通过办理环节变更",
        "illegal_transition": "状态变更不合规",
        "actor_not_allowed": "无权办理该环节",
        "bad_status": "状态未知",
        "other_village": "属于其他村",
        "foreign_id": "不是本代办点编号",
        "unknown_table": "未知数据表",
    },
}
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    kind: {code: (text, code) if isinstance(text, str) else text for code, text in codes.items()}
    for kind, codes in _TABLE.items()
}
"""Stored codes as a person reads them, by kind: the one catalogue of these labels for the hub's pages
and commands and the station's output (the TUI has its own, tui/i18n.py)."""


def label(kind: str, code: str | None, lang: str = "zh") -> str:
    """A stored code (an outcome, a material's state, an error code…) in ``lang``; "" for none.

    A code the catalogue does not know (a newer peer's) is shown as it is rather than hidden.
    """
    if not code:
        return ""
    known = LABELS.get(kind, {}).get(code)
    return pick(lang, *known) if known else code
