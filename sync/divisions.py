"""12-digit statistical division codes and the county's township/village tree."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import msgspec

from sync.errors import DivisionCodeError
from sync.samples import sample_divisions_json

__all__ = (
    "PROVINCE_CODES",
    "DivisionCode",
    "DivisionTree",
    "Township",
    "Village",
    "load_divisions",
    "parse_division_code",
    "sample_divisions",
)

PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82", "83"]
)
"""GB/T 2260 province-level prefixes (71 Taiwan, 81 Hong Kong, 82 Macao; 83 Taiwan residence permits)."""

_FIELD = "division_code"
_FULL_WIDTH_DIGITS = {0xFF10 + i: str(i) for i in range(10)}


class DivisionCode(msgspec.Struct, frozen=True):
    """A parsed 12-digit statistical division code of a county, township or village."""

    code: str
    province: str
    prefecture: str
    county: str
    township: str
    village: str
    level: Literal["county", "township", "village"]

    @property
    def county_code(self) -> str:
        """The 6-digit GB/T 2260 county code (positions 1-6)."""
        return self.code[:6]

    @property
    def township_code12(self) -> str:
        """The township's own 12-digit code (ending ``000``); for a county-level code, the code itself."""
        return self.code[:9] + "000"


def _error(code: str, *, zh: str, en: str, field: str = _FIELD) -> DivisionCodeError:
    return DivisionCodeError(zh=zh, en=en, field=field, code=code)


def parse_division_code(code: str) -> DivisionCode:
    """Parse and shape-check a 12-digit statistical division code.

    Only the layout is checked, not whether the unit exists: real tables contain units
    outside the named sub-ranges, and codes of abolished units are never reused.

    Args:
        code: The code; whitespace is removed and full-width digits made ASCII.

    Returns:
        The code split into its parts, with its level.

    Raises:
        DivisionCodeError: With ``field="division_code"`` and ``code`` one of
            ``division_code.empty``, ``division_code.length``, ``division_code.chars``,
            ``division_code.province``, ``division_code.county``,
            ``division_code.township``, ``division_code.village``.
    """
    text = "".join(code.translate(_FULL_WIDTH_DIGITS).split())
    if not text:
        raise _error(
            "division_code.empty",
            zh="区划代码为空。请输入 12 位统计用区划代码。",
            en="The division code is empty. Enter the 12-digit statistical division code.",
        )
    if len(text) != 12:
        raise _error(
            "division_code.length",
            zh=f"区划代码为 {len(text)} 位，应为 12 位数字。",
            en=f"The division code has {len(text)} characters; 12 digits are needed.",
        )
    for i, c in enumerate(text):
        if not (c.isascii() and c.isdigit()):
            raise _error(
                "division_code.chars",
                zh=f"区划代码第 {i + 1} 位不是数字；区划代码由 12 位数字组成。",
                en=f"Character {i + 1} of the division code is not a digit; a division code has 12 digits.",
            )
    province, prefecture, county = text[0:2], text[2:4], text[4:6]
    township, village = text[6:9], text[9:12]
    if province not in PROVINCE_CODES:
        raise _error(
            "division_code.province",
            zh="区划代码前两位不是 GB/T 2260 中的省级代码。",
            en="The first two digits of the division code are not a GB/T 2260 province code.",
        )
    if county == "00":
        # Province and prefecture summary codes have no township or village level,
        # and nothing in this system is keyed above the county.
        raise _error(
            "division_code.county",
            zh="区划代码第 5-6 位（县级部分）为 00：该代码指省或地级单位，而不是县、乡镇或村。",
            en="Digits 5-6 of the division code (the county part) are 00: the code names a province or "
            "prefecture, not a county, township or village.",
        )
    # GB/T 10114 and the statistics bureau's rules allot 001-599 (streets, towns,
    # townships, then development zones, farms and similar units) and nothing above,
    # so 600-999 can only be a typo. Village parts, by contrast, are not range-checked:
    # real tables contain villagers' committees numbered 500 and up.
    if int(township) >= 600:
        raise _error(
            "division_code.township",
            zh="区划代码第 7-9 位（乡级部分）应在 000 至 599 之间。",
            en="Digits 7-9 of the division code (the township part) must be 000-599.",
        )
    if township == "000" and village != "000":
        raise _error(
            "division_code.village",
            zh="区划代码有村级部分（第 10-12 位），但乡级部分（第 7-9 位）为 000。",
            en="The division code has a village part (digits 10-12) but no township part (digits 7-9 are 000).",
        )
    level: Literal["county", "township", "village"]
    if township == "000":
        level = "county"
    elif village == "000":
        level = "township"
    else:
        level = "village"
    return DivisionCode(text, province, prefecture, county, township, village, level)


class Village(msgspec.Struct, frozen=True):
    """A village (村委会) or community (居委会), with its township for display."""

    code: str
    name_zh: str
    kind: str
    township_code: str
    township_name_zh: str


class Township(msgspec.Struct, frozen=True):
    """A street, town or township with its villages in published order."""

    code: str
    name_zh: str
    kind: str
    villages: tuple[Village, ...]


class _Index(msgspec.Struct, frozen=True):
    townships: dict[str, Township]
    villages: dict[str, Village]


# A msgspec Struct rather than a dataclass so the tree encodes, compares and hashes
# like every other record here; ``dict=True`` gives instances a __dict__, which lets
# functools.cached_property keep the lookup index beside the declared fields without
# the index becoming a field (it is never encoded or compared).
class DivisionTree(msgspec.Struct, frozen=True, dict=True):
    """One county's townships and villages; build it with :func:`load_divisions`."""

    county_code: str
    county_name_zh: str
    townships: tuple[Township, ...]

    @functools.cached_property
    def _index(self) -> _Index:
        return _Index(
            townships={t.code: t for t in self.townships},
            villages={v.code: v for t in self.townships for v in t.villages},
        )

    def village(self, code: str) -> Village:
        """The village or community with this 12-digit code.

        Raises:
            DivisionCodeError: The code is malformed, or ``division_code.unknown`` when
                no village in this county has it.
        """
        key = parse_division_code(code).code
        try:
            return self._index.villages[key]
        except KeyError:
            raise _unknown(key, what_zh="村或社区", what_en="village or community") from None

    def township(self, code: str) -> Township:
        """The township (street, town or township) with this 12-digit code.

        Raises:
            DivisionCodeError: The code is malformed, or ``division_code.unknown`` when
                no township in this county has it.
        """
        key = parse_division_code(code).code
        try:
            return self._index.townships[key]
        except KeyError:
            raise _unknown(key, what_zh="乡镇（街道）", what_en="township") from None

    def township_of(self, village_code: str) -> Township:
        """The township a village belongs to.

        Raises:
            DivisionCodeError: As :meth:`village`.
        """
        return self.township(self.village(village_code).township_code)

    def villages(self) -> Iterator[Village]:
        """Every village and community, township by township, in published order."""
        for township in self.townships:
            yield from township.villages


def _unknown(code: str, *, what_zh: str, what_en: str) -> DivisionCodeError:
    # A division code is not personal data, and naming it is what makes the error actionable.
    return _error(
        "division_code.unknown",
        zh=f"本县区划表中没有代码为 {code} 的{what_zh}。请核对代码，或从县级平台更新区划表。",
        en=f"No {what_en} with division code {code} in this county's division tree. "
        "Check the code, or update the division tree from the hub.",
    )


def _tree_error(path: str, code: str, *, zh: str, en: str) -> DivisionCodeError:
    # In a tree error ``field`` is the JSON path, the most precise "field at fault".
    return _error(code, zh=f"{path}：{zh}", en=f"{path}: {en}", field=path)


def _member(obj: Any, key: str, path: str) -> Any:
    if not isinstance(obj, Mapping):
        parent = path.rpartition(".")[0] or "(top level)"
        raise _tree_error(parent, "division_code.tree", zh="应为 JSON 对象。", en="must be a JSON object.")
    if key not in obj:
        raise _tree_error(path, "division_code.tree", zh="缺失。", en="is missing.")
    return obj[key]


def _name(obj: Any, key: str, path: str) -> str:
    value = _member(obj, key, path)
    if not isinstance(value, str) or not value.strip():
        raise _tree_error(path, "division_code.name", zh="应为非空字符串。", en="must be a non-empty string.")
    return value.strip()


def _list(obj: Any, key: str, path: str) -> list[Any]:
    value = _member(obj, key, path)
    if not isinstance(value, list):
        raise _tree_error(path, "division_code.tree", zh="应为 JSON 数组。", en="must be a JSON array.")
    return value


_LEVEL_ZH = {"county": "县", "township": "乡", "village": "村"}


def _code(obj: Any, key: str, path: str, level: str, seen: dict[str, str]) -> DivisionCode:
    value = _member(obj, key, path)
    if not isinstance(value, str):
        raise _tree_error(
            path, "division_code.tree", zh="应为 12 位数字的字符串。", en="must be a string of 12 digits."
        )
    try:
        parsed = parse_division_code(value)
    except DivisionCodeError as error:
        raise _tree_error(path, error.code, zh=error.zh, en=error.en) from None
    if parsed.level != level:
        raise _tree_error(
            path,
            "division_code.level",
            zh=f"{parsed.code} 是{_LEVEL_ZH[parsed.level]}级代码，此处应为{_LEVEL_ZH[level]}级代码。",
            en=f"{parsed.code} is a {parsed.level}-level code; a {level}-level code is needed here.",
        )
    if parsed.code in seen:
        raise _tree_error(
            path,
            "division_code.duplicate",
            zh=f"{parsed.code} 已在 {seen[parsed.code]} 出现；代码不能重复。",
            en=f"{parsed.code} already appears at {seen[parsed.code]}; every code must be unique.",
        )
    seen[parsed.code] = path
    return parsed


def _not_under(path: str, code: str, parent_path: str) -> DivisionCodeError:
    return _tree_error(
        path,
        "division_code.parent",
        zh=f"{code} 不属于 {parent_path} 所指单位（代码前几位不一致）。",
        en=f"{code} does not belong to the unit at {parent_path} (its leading digits differ).",
    )


def load_divisions(data: Mapping[str, Any]) -> DivisionTree:
    """Build and check a division tree from its JSON form (``divisions-sample.json``).

    Args:
        data: Parsed JSON with ``county.code``/``county.name_zh`` and
            ``townships[].code/name_zh/kind/villages[].code/name_zh/kind``.

    Returns:
        The tree, in the order given.

    Raises:
        DivisionCodeError: The tree is malformed. The message starts with the JSON path
            (e.g. ``townships[3].villages[7].code``), which is also the error's ``field``;
            ``code`` is the parse code for a bad code, or one of ``division_code.tree``
            (missing key, wrong JSON type, no townships), ``division_code.name``,
            ``division_code.level``, ``division_code.parent``, ``division_code.duplicate``.
    """
    seen: dict[str, str] = {}
    county_obj = _member(data, "county", "county")
    county = _code(county_obj, "code", "county.code", "county", seen)
    county_name = _name(county_obj, "name_zh", "county.name_zh")
    township_list = _list(data, "townships", "townships")
    if not township_list:
        raise _tree_error("townships", "division_code.tree", zh="没有乡镇。", en="has no townships.")
    townships: list[Township] = []
    for t_index, t_obj in enumerate(township_list):
        t_path = f"townships[{t_index}]"
        t_code = _code(t_obj, "code", f"{t_path}.code", "township", seen)
        if t_code.county_code != county.county_code:
            raise _not_under(f"{t_path}.code", t_code.code, "county.code")
        t_name = _name(t_obj, "name_zh", f"{t_path}.name_zh")
        t_kind = _name(t_obj, "kind", f"{t_path}.kind")
        villages: list[Village] = []
        for v_index, v_obj in enumerate(_list(t_obj, "villages", f"{t_path}.villages")):
            v_path = f"{t_path}.villages[{v_index}]"
            v_code = _code(v_obj, "code", f"{v_path}.code", "village", seen)
            if v_code.township_code12 != t_code.code:
                raise _not_under(f"{v_path}.code", v_code.code, f"{t_path}.code")
            villages.append(
                Village(
                    code=v_code.code,
                    name_zh=_name(v_obj, "name_zh", f"{v_path}.name_zh"),
                    kind=_name(v_obj, "kind", f"{v_path}.kind"),
                    township_code=t_code.code,
                    township_name_zh=t_name,
                )
            )
        townships.append(Township(t_code.code, t_name, t_kind, tuple(villages)))
    return DivisionTree(county.code, county_name, tuple(townships))


@functools.cache
def sample_divisions() -> DivisionTree:
    """The fictional sample county 349921 (28 townships, 395 villages), loaded once."""
    return load_divisions(sample_divisions_json())
