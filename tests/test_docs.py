"""The docs are tested: the CLI session in docs/cli.md runs, and docs/domain.md and docs/protocol.md match the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import msgspec
from click.testing import CliRunner

from sync import protocol
from sync.lifecycle import TRANSITIONS
from tui.cli import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_cli_session_in_docs_runs(tmp_path):
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = [line[2:] for line in text.splitlines() if line.startswith("$ station ")]
    assert len(commands) >= 8
    runner = CliRunner()
    env = {
        "STATION_DATA_DIR": str(tmp_path / "data"),
        "LANG": "",
        "LC_ALL": "",
        "STATION_PASSPHRASE": "docs-passphrase-1",
    }  # the station's data is encrypted under it
    case_no = None
    for command in commands:
        if "{CASE}" in command:
            assert case_no, f"no case number yet for: {command}"
            command = command.replace("{CASE}", case_no)
        result = runner.invoke(main, shlex.split(command)[1:], env=env)
        assert result.exit_code == 0, f"{command}\n{result.output}"
        if " case new " in f" {command} ":
            case_no = result.stdout.splitlines()[-1]


def test_every_command_is_documented():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")

    def walk(group: click.Group, prefix: str):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix} {name}")
            else:
                yield f"{prefix} {name}"

    for path in walk(main, "station"):
        assert f"`{path}" in text, f"docs/cli.md does not document '{path}'"


def test_lifecycle_table_in_docs_matches_code():
    text = (DOCS / "domain.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([A-Z_]+) \| ([A-Z_]+) \| ([a-z, ]+) \|$", text, flags=re.MULTILINE)
    documented = {(a, b): frozenset(x.strip() for x in actors.split(",")) for a, b, actors in rows}
    actual = {(a.value, b.value): frozenset(x.value for x in actors) for (a, b), actors in TRANSITIONS.items()}
    assert documented == actual


def test_features_table_in_the_protocol_matches_code():
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| +(\d+) \| `(FEATURE_[A-Z0-9_]+)` \|", text, flags=re.MULTILINE)
    names = [name for name in dir(protocol) if name.startswith("FEATURE_")]
    assert {name: int(bit) for bit, name in rows} == {name: getattr(protocol, name) for name in names}
    said = re.search(r"This release says ([\d + ]+) \(station\) and ([\d + ]+) \(hub\)", text)
    assert said is not None
    assert [sum(int(n) for n in part.split("+")) for part in said.groups()] == [
        protocol.STATION_FEATURES,
        protocol.HUB_FEATURES,
    ]


def test_the_support_window_in_the_protocol_matches_code():
    from hub.web.errors import STATUS_FOR_CODE
    from sync.version import OLDEST_PEER, SUPPORT_WINDOW

    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    said = re.search(r'`sync\.version\.OLDEST_PEER` \(`"([\d.]+)"`,\s+`SUPPORT_WINDOW = (\d+)`\)', text)
    assert said is not None and said.groups() == (OLDEST_PEER, str(SUPPORT_WINDOW))
    assert f"install release {OLDEST_PEER} or newer" in text
    row = re.search(r"^\| `peer_too_old` \| (\d+) \|", text, flags=re.MULTILINE)
    assert row is not None and int(row.group(1)) == STATUS_FOR_CODE["peer_too_old"]


def test_compact_form_example_in_the_protocol_round_trips():
    # The layout docs/protocol.md gives for a status change, checked against the code.
    from sync.changes import StatusChange, encode_change
    from sync.compact import compact, expand

    move = StatusChange(
        event_id="349921001001-A-1:7",
        case_no="349921001001-20261126-A001",
        from_status="DRAFT",
        to_status="RECEIVED",
        actor="station",
        hlc=7,
        at="2026-11-26T01:00:00.000Z",
    )
    record = encode_change(move)
    shapes, rows = msgspec.msgpack.decode(compact([record]))
    assert shapes == [] and rows == [
        [
            -1,
            7,
            "349921001001-A-1:7",
            "349921001001-20261126-A001",
            "DRAFT",
            "RECEIVED",
            "station",
            "2026-11-26T01:00:00.000Z",
            None,
            None,
            None,
            None,
        ]
    ]
    assert expand(compact([record]), max_size=1 << 20) == [record]


ROOT = DOCS.parent
CITING = ("sync", "station", "hub", "tui", "netsim", "fleet", "bench", "tools", "tests")


def _citing_texts() -> dict[Path, str]:
    """The code, tests, docs and README: everything that may cite an invariant or the brief."""
    paths = [p for top in CITING for p in (ROOT / top).rglob("*") if p.suffix in {".py", ".j2", ".md"}]
    paths += [*DOCS.glob("*.md"), ROOT / "README.md"]
    return {p: p.read_text(encoding="utf-8") for p in paths if "__pycache__" not in p.parts}


def test_every_cited_invariant_is_defined_in_docs_architecture():
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    defined = {int(n): title for n, title in re.findall(r"^### (\d+)\. (.+)$", text, flags=re.MULTILINE)}
    assert sorted(defined) == list(range(1, 12))
    cited: dict[int, list[str]] = {}
    for path, body in _citing_texts().items():
        for first, more in re.findall(r"\binvariants? (\d+)((?:(?:, | and )\d+)*)", body, flags=re.IGNORECASE):
            for n in [first, *re.findall(r"\d+", more)]:
                cited.setdefault(int(n), []).append(str(path.relative_to(ROOT)))
    assert len(cited) >= 8, "the tree cites the invariants by number; did the pattern stop matching?"
    undefined = {n: paths for n, paths in cited.items() if n not in defined}
    assert not undefined, f"invariants cited but not defined in docs/architecture.md: {undefined}"
    # The numbering and titles are the design's: when its notes are beside the repository, they agree.
    design = ROOT.parent / "shared" / "design" / "architecture.md"
    if design.is_file():
        titles = re.findall(r"^\s*(\d+)\. \*\*(.+?)\.\*\*", design.read_text(encoding="utf-8"), flags=re.MULTILINE)
        assert {int(n): title for n, title in titles} == defined


def test_every_cited_brief_section_is_mapped_in_docs_architecture():
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    mapped = set(re.findall(r"^\| §(\d+(?:\.\d+)?) \|", text, flags=re.MULTILINE))
    cited = {
        n
        for body in _citing_texts().values()
        for n in re.findall(r"\bbrief §(\d+(?:\.\d+)?)", body, flags=re.IGNORECASE)
    }
    assert cited, "the tree cites the brief by section; did the pattern stop matching?"
    unmapped = {n for n in cited if n not in mapped and n.split(".")[0] not in mapped}
    assert not unmapped, f"brief sections cited but not mapped in docs/architecture.md: {sorted(unmapped)}"
    brief = ROOT.parent / "shared" / "domain" / "brief.md"
    if brief.is_file():
        headings = set(
            re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", brief.read_text(encoding="utf-8"), flags=re.MULTILINE)
        )
        assert mapped <= headings, f"mapped sections the brief does not have: {sorted(mapped - headings)}"
