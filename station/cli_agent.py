"""The ``station agent`` commands: the name of the agent working at this PC, shown and changed."""

from __future__ import annotations

import click

from station.agent import set_agent_name
from station.cli_base import Context, handles_errors
from station.render import print_lines
from sync.i18n import pick
from sync.text import printable

__all__ = ("AGENT_COMMANDS",)


@click.group("agent")
def agent_group() -> None:
    """The agent working at this PC (named in case history, notes and receipts)."""


@agent_group.command("show")
@click.pass_obj
@handles_errors
def agent_show(obj: Context) -> None:
    """Print the agent's name (empty line when none is set)."""
    with obj.station() as st:
        click.echo(printable(st.agent_name))


@agent_group.command("set-name")
@click.argument("name")
@click.pass_obj
@handles_errors
def agent_set_name(obj: Context, name: str) -> None:
    """Set the name of the agent working at this PC from now on (earlier history keeps its names)."""
    with obj.station() as st:
        stored = printable(set_agent_name(st, name))
    print_lines(
        obj.out,
        [pick(obj.lang, f"代办员姓名已设为：{stored}", f"Agent's name set to: {stored}")],
    )


AGENT_COMMANDS = (agent_group,)
"""Added to the ``station`` group by station.cli."""
