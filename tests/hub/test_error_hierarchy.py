"""HubHTTPError is one of the project's errors, and every bilingual error takes keyword-only zh=, en=."""

from __future__ import annotations

import pytest

from hub.web.errors import HubHTTPError
from station.errors import FeedError, HubError, RefusedChange
from sync.errors import IllegalTransition, InputError, ProxyAppError


def test_a_hub_http_error_is_caught_as_any_error_raised_on_purpose() -> None:
    with pytest.raises(ProxyAppError) as caught:
        raise HubHTTPError("unknown_key", zh="县平台不认识密钥 k1", en="key k1 is not known to this hub")
    error = caught.value
    assert isinstance(error, HubHTTPError)
    assert (error.code, error.status, error.extra) == ("unknown_key", 401, {})
    assert str(error) == "key k1 is not known to this hub"
    assert error.message("zh") == "县平台不认识密钥 k1"
    assert error.message("en") == "key k1 is not known to this hub"


def test_a_status_given_outright_wins_over_the_code_s_own() -> None:
    error = HubHTTPError("malformed", zh="太大", en="too big", status=413, extra={"limit": 8})
    assert (error.status, error.extra, error.field) == (413, {"limit": 8}, None)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ProxyAppError("en", "中文"),  # type: ignore[misc]
        lambda: InputError("en", "中文", field="x"),  # type: ignore[misc]
        lambda: IllegalTransition("en", "中文", from_status="a", to_status="b"),  # type: ignore[misc]
        lambda: HubHTTPError("malformed", "en", "中文"),  # type: ignore[misc]
        lambda: HubError("en", "中文", code="x", status=500),  # type: ignore[misc]
        lambda: FeedError("en", "中文", seq=1),  # type: ignore[misc]
        lambda: RefusedChange("C1", "stale", "en", "中文", filed=True),  # type: ignore[misc]
    ],
)
def test_the_languages_are_never_passed_by_position(make: object) -> None:
    with pytest.raises(TypeError):
        make()  # type: ignore[operator]


def test_chinese_first_and_english_by_name_keep_str_and_message() -> None:
    error = InputError(zh="缺少字段", en="a field is missing", field="name", code="missing")
    assert str(error) == "a field is missing"
    assert error.message() == "缺少字段"
    assert error.message("en-GB") == "a field is missing"
    refused = RefusedChange("C1", "stale", reason_zh="版本过旧", reason_en="stale version", filed=True)
    assert str(refused) == "case C1: the county refused a change (stale): stale version"
    assert refused.message("zh") == "办件 C1：县平台拒收了一项更改（stale）：版本过旧"
