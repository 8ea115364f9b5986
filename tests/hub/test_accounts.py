"""Accounts: Argon2 hashes, tokens stored hashed, sessions with idle and absolute limits, the login back-off."""

from __future__ import annotations

import dataclasses

import pytest

from hub.accounts import (
    LoginFailed,
    LoginThrottled,
    add_user,
    create_token,
    disable_user,
    hasher_for,
    login,
    revoke_token,
    session_principal,
    set_password,
    token_principal,
)
from sync.errors import InputError, NotFoundError
from tests.hub.builders import PASSWORDS
from tests.support.postgres import BOTH_BACKENDS, store_bytes

pytestmark = BOTH_BACKENDS  # the store's behaviour on SQLite and on PostgreSQL (docs/postgresql.md)


def attempt(store, settings, clock, name="admin", password=None, ip="10.0.0.1"):
    return login(
        store,
        name,
        PASSWORDS.get(name, "x") if password is None else password,
        ip=ip,
        now=clock(),
        settings=settings,
        hasher=hasher_for(settings),
    )


def test_passwords_are_argon2id_hashes(store, users):
    admin = store.user_named("ADMIN")  # names are case-insensitive
    assert admin.password_hash.startswith("$argon2id$") and PASSWORDS["admin"] not in admin.password_hash
    raw = store_bytes(store)
    assert PASSWORDS["admin"].encode() not in raw and PASSWORDS["rs"].encode() not in raw


@pytest.mark.parametrize(
    ("name", "role", "department", "password", "field"),
    [
        ("", "admin", None, "long-enough-1", "name"),
        ("two words", "admin", None, "long-enough-1", "name"),
        ("a", "owner", None, "long-enough-1", "role"),
        ("a", "admin", "RS", "long-enough-1", "department"),
        ("a", "department", None, "long-enough-1", "department"),
        ("a", "department", "XX", "long-enough-1", "department"),
        ("a", "admin", None, "short", "password"),
        ("admin", "admin", None, "long-enough-1", "name"),  # taken
    ],
)
def test_bad_accounts_are_refused(store, settings, clock, users, name, role, department, password, field):
    with pytest.raises(InputError) as caught:
        add_user(store, name, role, password, department=department, hasher=hasher_for(settings), now=clock())
    assert caught.value.field == field


def test_a_department_key_is_stored_upper_case(store, settings, clock):
    user = add_user(
        store, "张科长", "department", "long-enough-1", department="mz", hasher=hasher_for(settings), now=clock()
    )
    assert (user.name, user.role, user.department) == ("张科长", "department", "MZ")


def test_tokens_are_stored_hashed_and_can_expire_or_be_revoked(store, users, clock):
    issued = create_token(store, "rs", expires_days=1, now=clock())
    assert issued.token.startswith(issued.token_id + ".") and issued.token not in repr(store.tokens())
    assert issued.token.encode() not in store_bytes(store)
    who = token_principal(store, issued.token, now=clock())
    assert (who.name, who.role, who.department, who.via) == ("rs", "department", "RS", "token")
    assert token_principal(store, issued.token_id + ".wrong", now=clock()) is None
    assert token_principal(store, "garbage", now=clock()) is None
    clock.advance(days=1, seconds=1)
    assert token_principal(store, issued.token, now=clock()) is None  # expired
    forever = create_token(store, "rs", expires_days=None, now=clock())
    assert forever.expires_at is None
    revoke_token(store, forever.token_id, now=clock())
    assert token_principal(store, forever.token, now=clock()) is None
    with pytest.raises(NotFoundError):
        revoke_token(store, forever.token_id, now=clock())
    with pytest.raises(NotFoundError):
        create_token(store, "nobody", expires_days=1, now=clock())


def test_sessions_end_when_idle_or_old(store, settings, users, clock):
    cookie, who = attempt(store, settings, clock)
    assert who.via == "session" and who.csrf
    clock.advance(hours=7, minutes=59)
    assert session_principal(store, cookie, now=clock(), settings=settings).name == "admin"
    clock.advance(hours=7, minutes=59)  # used 8 h ago less a minute: still fine; now used again
    assert session_principal(store, cookie, now=clock(), settings=settings) is not None
    clock.advance(hours=8, minutes=1)
    assert session_principal(store, cookie, now=clock(), settings=settings) is None  # idle
    assert session_principal(store, cookie, now=clock(), settings=settings) is None  # and forgotten
    cookie, _ = attempt(store, settings, clock)
    for _ in range(5):  # busy all day: the absolute limit still ends it
        clock.advance(hours=5)
        session_principal(store, cookie, now=clock(), settings=settings)
    assert session_principal(store, cookie, now=clock(), settings=settings) is None


def test_wrong_passwords_back_off_per_account_and_address(store, settings, users, clock):
    for _ in range(2):
        with pytest.raises(LoginFailed):
            attempt(store, settings, clock, password="wrong")
    with pytest.raises(LoginFailed):
        attempt(store, settings, clock, password="wrong")  # the third: locked 1 s
    with pytest.raises(LoginThrottled) as caught:
        attempt(store, settings, clock)  # even the right password is not looked at
    assert caught.value.retry_after == 1
    attempt(store, settings, clock, ip="10.0.0.2")  # another address is not held back
    attempt(store, settings, clock, name="rs")  # nor another account
    clock.advance(seconds=1)
    with pytest.raises(LoginFailed):
        attempt(store, settings, clock, password="wrong")  # fourth: 2 s
    with pytest.raises(LoginThrottled) as caught:
        attempt(store, settings, clock)
    assert caught.value.retry_after == 2
    clock.advance(seconds=2)
    attempt(store, settings, clock)  # success forgets the failures
    assert store.login_failures("admin", "10.0.0.1") == (0, None)


def test_the_back_off_is_capped(store, settings, users, clock):
    fast = dataclasses.replace(settings, login_max_delay_s=60)
    for _ in range(12):
        with pytest.raises((LoginFailed, LoginThrottled)):
            attempt(store, fast, clock, password="wrong")
        clock.advance(seconds=61)
    with pytest.raises(LoginFailed):
        attempt(store, fast, clock, password="wrong")
    with pytest.raises(LoginThrottled) as caught:
        attempt(store, fast, clock)
    assert caught.value.retry_after == 60


def test_an_unknown_name_fails_like_a_wrong_password(store, settings, users, clock):
    with pytest.raises(LoginFailed):
        attempt(store, settings, clock, name="nobody", password="whatever-1")
    assert store.login_failures("nobody", "10.0.0.1")[0] == 1


def test_disabling_ends_sessions_and_tokens_and_login(store, settings, users, clock):
    cookie, _ = attempt(store, settings, clock, name="rs")
    issued = create_token(store, "rs", expires_days=1, now=clock())
    disable_user(store, "rs", now=clock())
    assert session_principal(store, cookie, now=clock(), settings=settings) is None
    assert token_principal(store, issued.token, now=clock()) is None
    with pytest.raises(LoginFailed):
        attempt(store, settings, clock, name="rs")
    with pytest.raises(InputError):
        create_token(store, "rs", expires_days=1, now=clock())


def test_a_new_password_ends_the_sessions(store, settings, users, clock):
    cookie, _ = attempt(store, settings, clock)
    set_password(store, "admin", "another-password", hasher=hasher_for(settings))
    assert session_principal(store, cookie, now=clock(), settings=settings) is None
    with pytest.raises(LoginFailed):
        attempt(store, settings, clock)
    assert attempt(store, settings, clock, password="another-password")[1].name == "admin"
    with pytest.raises(InputError):
        set_password(store, "admin", "short", hasher=hasher_for(settings))


def test_weaker_hashes_are_upgraded_at_login(store, settings, users, clock):
    stronger = dataclasses.replace(settings, argon2_time_cost=2)
    login(store, "admin", PASSWORDS["admin"], ip="x", now=clock(), settings=stronger, hasher=hasher_for(stronger))
    assert "t=2" in store.user_named("admin").password_hash


def test_a_refused_attempt_is_counted_without_lengthening_the_lock(store, settings, users, clock):
    for _ in range(3):
        with pytest.raises(LoginFailed):
            attempt(store, settings, clock, password="wrong")  # the third locks for 1 s
    for _ in range(5):
        with pytest.raises(LoginThrottled) as caught:
            attempt(store, settings, clock, password="wrong")
        assert caught.value.retry_after == 1 and caught.value.reason == "backoff"
    assert store.login_failures("admin", "10.0.0.1")[0] == 8  # every attempt counted, none checked
    clock.advance(seconds=1)
    with pytest.raises(LoginFailed):
        attempt(store, settings, clock, password="wrong")  # checked: twice the last lock, not 2^5
    with pytest.raises(LoginThrottled) as caught:
        attempt(store, settings, clock)
    assert caught.value.retry_after == 2


def test_rows_of_names_tried_once_are_pruned_after_a_quiet_day(store, settings, users, clock):
    import hub.accounts

    hub.accounts._pruned.clear()
    for i in range(5):
        with pytest.raises(LoginFailed):
            attempt(store, settings, clock, name=f"made-up-{i}", password="whatever-1")
    assert store.login_failures("made-up-0", "10.0.0.1")[0] == 1
    clock.advance(days=1, minutes=11)
    with pytest.raises(LoginFailed):
        attempt(store, settings, clock, name="another", password="whatever-1")
    assert [store.login_failures(f"made-up-{i}", "10.0.0.1")[0] for i in range(5)] == [0] * 5
    assert store.login_failures("another", "10.0.0.1")[0] == 1
