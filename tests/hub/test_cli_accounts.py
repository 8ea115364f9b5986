"""``hub user``, ``hub token``, ``hub department`` and ``hub status`` from the command line."""

from __future__ import annotations

import json

import pytest

from hub.accounts import token_principal
from hub.store import HubStore
from hub.testing import live_server
from hub.web.app import create_app
from sync.timeutil import utc_now
from tests.hub.test_cli import run


def test_user_add_from_stdin_the_environment_and_twice_at_a_prompt(hub_dir):
    added = run(
        hub_dir,
        "--lang",
        "en",
        "user",
        "add",
        "chief",
        "--role",
        "admin",
        "--password-stdin",
        input_text="a-long-password\n",
    )
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "Created user chief (admin)"
    by_env = run(
        hub_dir,
        "user",
        "add",
        "zhang",
        "--role",
        "department",
        "--department",
        "mz",
        env={"HUB_USER_PASSWORD": "another-password"},
    )
    assert by_env.exit_code == 0 and "MZ" in by_env.stdout
    listed = json.loads(run(hub_dir, "user", "list", "--json").stdout)
    assert [(u["name"], u["role"], u["department"]) for u in listed] == [
        ("chief", "admin", None),
        ("zhang", "department", "MZ"),
    ]
    with HubStore.open_existing(hub_dir) as store:
        assert store.user_named("chief").password_hash.startswith("$argon2id$")


def test_user_add_refuses_bad_input_with_exit_2(hub_dir):
    short = run(hub_dir, "user", "add", "x", "--role", "admin", "--password-stdin", input_text="short\n")
    assert short.exit_code == 2 and "密码至少" in short.stderr
    no_department = run(
        hub_dir, "--lang", "en", "user", "add", "x", "--role", "department", env={"HUB_USER_PASSWORD": "long-enough-pw"}
    )
    assert no_department.exit_code == 2 and "hub department list" in no_department.stderr
    unknown = run(
        hub_dir,
        "user",
        "add",
        "x",
        "--role",
        "department",
        "--department",
        "QQ",
        env={"HUB_USER_PASSWORD": "long-enough-pw"},
    )
    assert unknown.exit_code == 2 and "RS" in unknown.stderr
    no_password = run(hub_dir, "user", "add", "x", "--role", "admin")  # stdin is not a terminal here
    assert no_password.exit_code == 2 and "--password-stdin" in no_password.stderr


def test_token_create_prints_the_token_alone_on_the_last_line(hub_dir):
    run(hub_dir, "user", "add", "chief", "--role", "admin", env={"HUB_USER_PASSWORD": "a-long-password"})
    created = run(hub_dir, "token", "create", "--user", "chief", "--expires-days", "7")
    assert created.exit_code == 0, created.output
    token = created.stdout.splitlines()[-1]
    token_id = token.partition(".")[0]
    assert len(token) > 40 and token_id in created.stdout.splitlines()[0]
    with HubStore.open_existing(hub_dir) as store:
        assert token.encode() not in store.path.read_bytes()
        who = token_principal(store, token, now=utc_now())
        assert (who.name, who.role) == ("chief", "admin")
    listed = json.loads(run(hub_dir, "token", "list", "--json").stdout)
    assert [(t["token_id"], t["user"], t["revoked_at"]) for t in listed] == [(token_id, "chief", None)]
    assert token not in run(hub_dir, "token", "list").stdout
    revoked = run(hub_dir, "token", "revoke", token_id)
    assert revoked.exit_code == 0 and token_id in revoked.stdout
    assert json.loads(run(hub_dir, "token", "list", "--user", "chief", "--json").stdout)[0]["revoked_at"]
    assert run(hub_dir, "token", "revoke", token_id).exit_code == 2
    assert run(hub_dir, "token", "create", "--user", "nobody").exit_code == 2
    forever = run(hub_dir, "--lang", "en", "token", "create", "--user", "chief", "--expires-days", "0")
    assert "expires never" in forever.stdout


def test_user_passwd_and_disable(hub_dir):
    run(hub_dir, "user", "add", "chief", "--role", "admin", env={"HUB_USER_PASSWORD": "a-long-password"})
    token = run(hub_dir, "token", "create", "--user", "chief").stdout.splitlines()[-1]
    changed = run(hub_dir, "user", "passwd", "chief", "--password-stdin", input_text="a-newer-password\n")
    assert changed.exit_code == 0, changed.output
    disabled = run(hub_dir, "user", "disable", "chief")
    assert disabled.exit_code == 0
    assert "已停用" in run(hub_dir, "user", "list").stdout
    with HubStore.open_existing(hub_dir) as store:
        assert token_principal(store, token, now=utc_now()) is None
    assert run(hub_dir, "user", "disable", "nobody").exit_code == 2


def test_department_list(hub_dir):
    listed = run(hub_dir, "department", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["RS", "YB", "MZ", "CL", "WJ", "GA", "NY", "TY", "ZJ"]
    assert "县民政局（老龄办" in next(line for line in lines if line.startswith("MZ"))
    data = json.loads(run(hub_dir, "department", "list", "--json").stdout)
    assert data[0]["items"][:2] == ["RS-001", "RS-002"]


@pytest.mark.timeout(30)
def test_hub_status_reads_a_live_hub(settings, clock, station, store, identity, admin_token, rs_token):
    from hub.ingest import ingest_sets

    ingest_sets(store, identity, [station.seal(station.new_case()[1])], station_id=station.station_id, now=clock)
    with live_server(create_app(settings, now=clock)) as url:
        table = run(settings.data_dir, "status", "--url", url, "--token", admin_token)
        assert table.exit_code == 0, table.output
        assert station.station_id in table.stdout and "未注册" in table.stdout and "已注册村 1/395" in table.stdout
        scripted = run(settings.data_dir, "status", "--json", env={"HUB_URL": url, "HUB_TOKEN": admin_token})
        report = json.loads(scripted.stdout)
        assert len(report["stations"]) == 395 and report["summary"]["never"] == 1
        problems = json.loads(
            run(settings.data_dir, "status", "--url", url, "--token", admin_token, "--json", "--problems").stdout
        )
        assert [(r["station_id"], r["attention"]) for r in problems["stations"]] == [(station.station_id, ["never"])]
        township = json.loads(
            run(
                settings.data_dir,
                "status",
                "--url",
                url,
                "--token",
                admin_token,
                "--json",
                "--township",
                "349921002000",
            ).stdout
        )
        assert {r["township_code"] for r in township["stations"]} == {"349921002000"}
        english = run(
            settings.data_dir, "--lang", "en", "status", "--url", url, "--token", admin_token, "--state", "never"
        )
        assert "never" in english.stdout and "villages enrolled 1/395" in english.stdout
        empty = run(
            settings.data_dir, "--lang", "en", "status", "--url", url, "--token", admin_token, "--state", "revoked"
        )
        assert empty.exit_code == 0 and "No stations match." in empty.stdout
        refused = run(settings.data_dir, "--lang", "en", "status", "--url", url, "--token", "bad.token")
        assert refused.exit_code == 1 and "refused the token" in refused.stderr
        department = run(settings.data_dir, "--lang", "en", "status", "--url", url, "--token", rs_token)
        assert department.exit_code == 1 and "not an administrator" in department.stderr
    unreachable = run(
        settings.data_dir, "--lang", "en", "status", "--url", url, "--token", admin_token, "--timeout", "1"
    )
    assert unreachable.exit_code == 1 and "cannot reach" in unreachable.stderr
