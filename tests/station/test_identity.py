"""The station's key pair at rest, its passphrase, and the hub facts kept in meta."""

from __future__ import annotations

import pytest

from station.errors import NotEnrolledError, PassphraseError
from station.identity import (
    KEY_FILE,
    bump_counter,
    hub_pins,
    load_keypair,
    passphrase,
    public_key_id,
    save_keypair,
)
from station.store.db import write_txn
from sync.crypto import KeyPair, fingerprint
from sync.errors import InputError

WORK = 2**10  # scrypt cost for tests only; the real default is 2**15


def test_key_pair_round_trips_under_the_passphrase(tmp_path):
    keys = KeyPair.generate()
    save_keypair(tmp_path, keys, "correct horse", work=WORK)
    assert load_keypair(tmp_path, "correct horse").pair == keys
    assert not list(tmp_path.glob("*.tmp"))  # written via a temp file, renamed
    raw = (tmp_path / KEY_FILE).read_bytes()
    assert keys.sign_private not in raw and keys.box_private not in raw


def test_wrong_passphrase_is_a_clear_input_error(tmp_path):
    save_keypair(tmp_path, KeyPair.generate(), "correct horse", work=WORK)
    with pytest.raises(PassphraseError) as info:
        load_keypair(tmp_path, "wrong horse")
    assert isinstance(info.value, InputError)  # exit status 2 at the CLI
    assert "wrong passphrase" in info.value.message("en") and "口令错误" in info.value.message("zh")


def test_short_passphrase_is_refused_for_a_new_key(tmp_path):
    with pytest.raises(PassphraseError):
        save_keypair(tmp_path, KeyPair.generate(), "short", work=WORK)
    assert not (tmp_path / KEY_FILE).exists()


def test_no_key_yet_says_to_enrol(tmp_path):
    with pytest.raises(NotEnrolledError) as info:
        load_keypair(tmp_path, "whatever1")
    assert "station enroll" in info.value.message("en")
    assert public_key_id(tmp_path) is None


def test_key_id_is_readable_without_the_passphrase(tmp_path):
    keys = KeyPair.generate()
    save_keypair(tmp_path, keys, "correct horse", work=WORK)
    assert public_key_id(tmp_path) == keys.key_id


def test_passphrase_comes_from_the_environment_first():
    assert (
        passphrase(environ={"STATION_PASSPHRASE": "from env"}, interactive=True, prompt=lambda _: pytest.fail("asked"))
        == "from env"
    )


def test_passphrase_without_terminal_or_variable_says_what_to_set():
    with pytest.raises(PassphraseError) as info:
        passphrase(environ={}, interactive=False)
    assert "STATION_PASSPHRASE" in info.value.message("en") and "STATION_PASSPHRASE" in info.value.message("zh")


def test_passphrase_is_asked_twice_for_a_new_key():
    answers = iter(["one passphrase", "another one"])
    with pytest.raises(PassphraseError):
        passphrase(environ={}, interactive=True, confirm=True, prompt=lambda _: next(answers))
    answers = iter(["same passphrase", "same passphrase"])
    assert passphrase(environ={}, interactive=True, confirm=True, prompt=lambda _: next(answers)) == "same passphrase"


def test_hub_pins_are_none_before_enrolment_and_kept_after(station, hub, keys):
    pins = hub_pins(station.db)
    assert pins is not None and pins.sign_public == hub.keys.sign_public
    assert pins.fingerprint == fingerprint(hub.keys.sign_public)


def test_unenrolled_station_has_no_pins(station):
    assert hub_pins(station.db) is None


def test_request_counter_only_grows_and_jumps_past_the_hubs(station):
    assert [bump_counter(station.db) for _ in range(3)] == [1, 2, 3]
    assert bump_counter(station.db, at_least=100) == 101
    assert bump_counter(station.db, at_least=5) == 102
    # Stored as the text every release reads, and read back by the typed accessor.
    assert station.db.execute("SELECT value FROM meta WHERE key = 'request_counter'").fetchone()[0] == "102"
    assert station.meta.request_counter == 102


def test_request_counter_starts_at_one_where_none_is_stored_or_it_is_empty(station):
    for stored in (None, ""):
        with write_txn(station.db):
            station.db.execute("DELETE FROM meta WHERE key = 'request_counter'")
            if stored is not None:
                station.db.execute("INSERT INTO meta (key, value) VALUES ('request_counter', ?)", [stored])
        assert bump_counter(station.db) == 1
        assert bump_counter(station.db, at_least=7) == 8
