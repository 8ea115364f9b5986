"""The hub's SQL as written (SQLite's dialect, ``?`` placeholders) translated for PostgreSQL.

The store's parts and the numbered migrations are written once, in portable SQL; the PostgreSQL
backend (hub.store.pg) runs every statement through :func:`translate` (queries) or
:func:`translate_ddl` (migrations), so a part or a migration added later runs on both engines
unchanged as long as it keeps to the portable forms (docs/postgresql.md, "Portable SQL"). What
cannot be translated faithfully (``INSERT OR REPLACE``, SQLite's date functions, pragmas) raises
:class:`NotPortable` naming the statement, at the first test that runs it on PostgreSQL.

Only code is rewritten: string literals and quoted names are left as they are.
"""

from __future__ import annotations

import functools
import re

__all__ = ("ORD", "NotPortable", "translate", "translate_ddl")

ORD = "ord"
"""PostgreSQL has no rowid: a table without an integer primary key gets this identity column (insertion
order, what ``ORDER BY rowid`` means here), and ``rowid`` in a query becomes it. The backend leaves it out
of the rows a query returns, so ``SELECT *`` gives the same columns on both engines."""


class NotPortable(ValueError):
    """A statement uses SQLite-only SQL that has no faithful PostgreSQL form: write the portable one."""

    def __init__(self, what: str, sql: str) -> None:
        super().__init__(f"not portable SQL ({what}; see docs/postgresql.md, 'Portable SQL'): {' '.join(sql.split())}")


# -- splitting code from literals -----------------------------------------------------------------

_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def _segments(sql: str) -> list[tuple[bool, str]]:
    """(is_code, text) pieces: string literals and quoted names are never code."""
    pieces: list[tuple[bool, str]] = []
    at = 0
    for match in _LITERAL.finditer(sql):
        if match.start() > at:
            pieces.append((True, sql[at : match.start()]))
        pieces.append((False, match.group()))
        at = match.end()
    if at < len(sql):
        pieces.append((True, sql[at:]))
    return pieces


def _in_code(sql: str, pattern: re.Pattern[str], replace: str | object) -> str:
    return "".join(pattern.sub(replace, text) if code else text for code, text in _segments(sql))  # type: ignore[arg-type]


def _code_only(sql: str) -> str:
    """The statement with every literal blanked to the same length (positions kept), for searching."""
    return "".join(text if code else "'" + " " * (len(text) - 2) + "'" for code, text in _segments(sql))


def _close_paren(sql: str, open_at: int) -> int:
    """The index of the ``)`` that closes the ``(`` at ``open_at`` (literals already blanked)."""
    depth = 0
    for index in range(open_at, len(sql)):
        if sql[index] == "(":
            depth += 1
        elif sql[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    raise NotPortable("unbalanced parentheses", sql)


def _top_level_split(text: str, sep: str = ",") -> list[str]:
    """``text`` split at ``sep`` outside parentheses and literals."""
    blank = _code_only(text)
    parts, depth, start = [], 0, 0
    for index, char in enumerate(blank):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


# -- queries --------------------------------------------------------------------------------------

_REFUSED = [
    (re.compile(r"(?i)\bINSERT\s+OR\s+(REPLACE|ABORT|FAIL|ROLLBACK)\b|^\s*REPLACE\s+INTO\b"), "INSERT OR REPLACE"),
    (re.compile(r"(?i)\b(julianday|strftime|datetime|unixepoch|date|time)\s*\("), "SQLite date functions"),
    (re.compile(r"(?i)^\s*PRAGMA\b"), "PRAGMA"),
    (re.compile(r"(?i)\blast_insert_rowid\s*\("), "last_insert_rowid()"),
]
_OR_IGNORE = re.compile(r"(?i)\bINSERT\s+OR\s+IGNORE\s+INTO\b")
_INDEXED_BY = re.compile(r"(?i)\s+(?:INDEXED\s+BY\s+\w+|NOT\s+INDEXED)\b")
_RENAMES = [
    (re.compile(r"(?i)\binstr\s*\("), "strpos("),
    (re.compile(r"(?i)\bifnull\s*\("), "coalesce("),
    (re.compile(r"(?i)\browid\b"), ORD),
    (re.compile(r"(?i)\bNOT\s+LIKE\b"), "NOT ILIKE"),  # SQLite's LIKE ignores ASCII case
    (re.compile(r"(?i)(?<!NOT )\bLIKE\b"), "ILIKE"),
    (re.compile(r"(?i)\bAS\s+INTEGER\s*\)"), "AS bigint)"),
    # SQLite adds a comparison's 0 or 1; PostgreSQL's boolean needs the cast: +(x IS NOT NULL).
    (re.compile(r"(?i)([+-])\s*\(([^()']*?\bIS\s+(?:NOT\s+)?NULL)\)"), r"\1(\2)::int"),
]
_FUNCTION = re.compile(r"(?i)\b(group_concat|max|min)\s*\(")
_INSERT_TABLE = re.compile(r"(?i)\bINSERT\s+INTO\s+(\w+)")
_DO_UPDATE = re.compile(r"(?i)\bDO\s+UPDATE\s+SET\b")
_CLAUSE_END = re.compile(r"(?i)\b(WHERE|RETURNING)\b")
_IDENT = re.compile(r"(?<![.\w])([A-Za-z_]\w*)\b(?!\s*[.(])")
_PLACEHOLDER = re.compile(r"\?")
_RETURNING = re.compile(r"(?i)\bRETURNING\b")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _functions(sql: str) -> str:
    """``group_concat(x[, sep])`` → ``string_agg((x)::text, sep)``; scalar ``max(a, b)`` → ``greatest``."""
    out, at = [], 0
    blank = _code_only(sql)
    for match in _FUNCTION.finditer(blank):
        if match.start() < at:
            continue
        open_at = match.end() - 1
        close = _close_paren(blank, open_at)
        name = match.group(1).lower()
        args = _top_level_split(sql[open_at + 1 : close])
        inner = _functions(sql[open_at + 1 : close])
        if name == "group_concat":
            first, *rest = _top_level_split(inner)
            separator = rest[0].strip() if rest else "','"
            call = f"string_agg(({first.strip()})::text, {separator})"
        elif len(args) > 1:
            call = f"{'greatest' if name == 'max' else 'least'}({inner})"
        else:
            call = f"{sql[match.start() : open_at]}({inner})"
        out.append(sql[at : match.start()] + call)
        at = close + 1
    out.append(sql[at:])
    return "".join(out)


_SUBQUERY = re.compile(r"(?i)\b(?:FROM|JOIN)\s*\(\s*SELECT\b")
_AFTER_SUBQUERY = re.compile(
    r"(?i)\s*(?:$|[),;]|(?:WHERE|GROUP|ORDER|LIMIT|OFFSET|UNION|INTERSECT|EXCEPT|JOIN|LEFT|RIGHT"
    r"|INNER|CROSS|FULL|NATURAL|ON|USING|HAVING|WINDOW|RETURNING)\b)"
)


def _aliased_subqueries(sql: str) -> str:
    """``FROM (SELECT …)`` without a name: SQLite takes it, PostgreSQL before 16 wants one (``AS sub1``)."""
    count = 0
    while True:
        blank = _code_only(sql)
        for match in _SUBQUERY.finditer(blank):
            close = _close_paren(blank, blank.index("(", match.start()))
            if _AFTER_SUBQUERY.match(blank, close + 1):
                count += 1
                sql = f"{sql[: close + 1]} AS sub{count}{sql[close + 1 :]}"
                break
        else:
            return sql


def _top_level(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match of ``pattern`` in ``text`` outside parentheses and literals."""
    blank = _code_only(text)
    for match in pattern.finditer(blank):
        prefix = blank[: match.start()]
        if prefix.count("(") == prefix.count(")"):
            return match
    return None


def _qualified_upsert(sql: str) -> str:
    """``ON CONFLICT … DO UPDATE SET n = n + excluded.n WHERE n > 0``: a bare column on the right of an
    assignment, or in the ``WHERE``, is ambiguous to PostgreSQL (the row or ``excluded``?). SQLite means
    the row, so each assigned column named bare there gets the table's name (``counters.n``)."""
    blank = _code_only(sql)
    update, table = _DO_UPDATE.search(blank), _INSERT_TABLE.search(blank)
    if update is None or table is None:
        return sql
    head, clause = sql[: update.end()], sql[update.end() :]
    end = _top_level(_CLAUSE_END, clause)
    assignments, rest = (clause[: end.start()], clause[end.start() :]) if end else (clause, "")
    parts = [part.partition("=") for part in _top_level_split(assignments)]
    targets = {lhs.strip().lower() for lhs, _, _ in parts}
    name = table.group(1)

    def qualify(text: str) -> str:
        return _in_code(text, _IDENT, lambda m: f"{name}.{m[1]}" if m[1].lower() in targets else m[1])

    rebuilt = ",".join(f"{lhs}{eq}{qualify(rhs)}" for lhs, eq, rhs in parts)
    if rest[:5].upper() == "WHERE":
        returning = _top_level(_RETURNING, rest)
        where, tail = (rest[: returning.start()], rest[returning.start() :]) if returning else (rest, "")
        rest = "WHERE" + qualify(where[5:]) + tail
    return head + rebuilt + rest


def _common(sql: str) -> str:
    sql = _in_code(sql, _COMMENT, " ")
    code = _code_only(sql)
    for pattern, what in _REFUSED:
        if pattern.search(code):
            raise NotPortable(what, sql)
    ignore = _OR_IGNORE.search(code)
    if ignore:
        sql = sql[: ignore.start()] + "INSERT INTO" + sql[ignore.end() :]
        returning = _top_level(_RETURNING, sql)
        at = returning.start() if returning else len(sql.rstrip().rstrip(";"))
        sql = sql[:at].rstrip() + " ON CONFLICT DO NOTHING " + sql[at:]
    sql = _in_code(sql, _INDEXED_BY, "")
    for pattern, replace in _RENAMES:
        sql = _in_code(sql, pattern, replace)
    if _FUNCTION.search(_code_only(sql)):
        sql = _functions(sql)
    if _SUBQUERY.search(_code_only(sql)):
        sql = _aliased_subqueries(sql)
    return _qualified_upsert(sql)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """A query of the hub's store for psycopg: SQLite's forms rewritten, ``?`` → ``%s`` and a literal ``%``
    doubled (psycopg reads ``%`` everywhere in the text, literals included).

    Raises:
        NotPortable: the statement uses SQLite-only SQL.
    """
    sql = _common(sql).replace("%", "%%")
    return "".join(_PLACEHOLDER.sub("%s", text) if code else text for code, text in _segments(sql))


# -- migrations -----------------------------------------------------------------------------------

_TYPES = {"INTEGER": "bigint", "INT": "bigint", "TEXT": "text", "BLOB": "bytea", "REAL": "double precision"}
_CREATE_TABLE = re.compile(r"(?is)^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\(")
_ADD_COLUMN = re.compile(r"(?is)^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+(?:COLUMN\s+)?(.*)$")
_CREATE_TRIGGER = re.compile(
    r"(?is)^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(BEFORE|AFTER)\s+"
    r"(INSERT|DELETE|UPDATE(?:\s+OF\s+[\w\s,]+?)?)\s+ON\s+(\w+)\s+(?:FOR\s+EACH\s+ROW\s+)?"
    r"(?:WHEN\s+(.*?)\s+)?BEGIN\s+(.*)\bEND\s*;?\s*$"
)
_TABLE_CONSTRAINT = re.compile(r"(?i)^\s*(PRIMARY\s+KEY|UNIQUE|CHECK|FOREIGN\s+KEY|CONSTRAINT)\b")
_NOCASE = re.compile(r"(?i)\s+COLLATE\s+NOCASE\b")
_UNIQUE = re.compile(r"(?i)\s+UNIQUE\b")
_ROWID_KEY = re.compile(r"(?i)^\s*(\w+)\s+INTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b")
_TABLE_OPTIONS = re.compile(r"(?i)^\s*(,?\s*(STRICT|WITHOUT\s+ROWID)\s*)*;?\s*$")


def _column(table: str, definition: str, extra: list[str]) -> tuple[str, bool]:
    """One column definition in PostgreSQL's words; (definition, whether it is the rowid alias)."""
    key = _ROWID_KEY.match(definition)
    if key:
        # SQLite's INTEGER PRIMARY KEY is the rowid: numbered when not given. BY DEFAULT (not ALWAYS): a copy
        # of a SQLite hub keeps its numbers (then hub.store.pg.reset_identities moves the counters past them).
        rest = definition[key.end() :]
        return f"{key.group(1)} bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY{rest}", True
    parts = definition.strip().split(None, 2)
    if len(parts) < 2 or parts[1].upper() not in _TYPES:
        raise NotPortable(f"column type of {table}: write TEXT, INTEGER or BLOB", definition)
    name, kind, rest = parts[0], _TYPES[parts[1].upper()], parts[2] if len(parts) > 2 else ""
    if name.lower() == ORD:
        raise NotPortable(f"the column name {ORD} is the PostgreSQL backend's own", definition)
    rest = " " + rest
    if _NOCASE.search(rest):
        # No NOCASE collation in PostgreSQL: a unique index on lower(name) instead; queries compare lower().
        rest = _NOCASE.sub("", rest)
        unique = bool(_UNIQUE.search(rest))
        rest = _UNIQUE.sub("", rest)
        extra.append(f"CREATE {'UNIQUE ' if unique else ''}INDEX {table}_{name}_lower ON {table} (lower({name}))")
    return f"{name} {kind}{rest.rstrip()}", False


def _create_table(sql: str, match: re.Match[str]) -> list[str]:
    blank = _code_only(sql)
    open_at = match.end() - 1
    close = _close_paren(blank, open_at)
    if not _TABLE_OPTIONS.match(blank[close + 1 :]):
        raise NotPortable("table options other than STRICT", sql)
    table = match.group(2)
    extra: list[str] = []
    columns, has_rowid_key = [], False
    for definition in _top_level_split(sql[open_at + 1 : close]):
        if _TABLE_CONSTRAINT.match(definition):
            columns.append(_common(definition.strip()))
            continue
        column, is_key = _column(table, definition, extra)
        has_rowid_key |= is_key
        columns.append(_common(column))
    if not has_rowid_key:
        columns.append(f"{ORD} bigint GENERATED BY DEFAULT AS IDENTITY")
    body = ",\n    ".join(columns)
    return [f"CREATE TABLE {match.group(1) or ''}{table} (\n    {body})", *extra]


def _trigger(match: re.Match[str]) -> list[str]:
    name, when, event, table, condition, body = match.groups()
    statements = [s.strip() for s in _top_level_split(body, ";") if s.strip()]
    returned = "NULL" if when.upper() == "AFTER" else ("OLD" if event.upper() == "DELETE" else "NEW")
    function = f"{name}_fn"
    lines = "\n".join(f"  {_common(s)};" for s in statements)
    when_clause = f" WHEN ({_common(condition)})" if condition else ""
    return [
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $trigger$\nBEGIN\n{lines}\n"
        f"  RETURN {returned};\nEND\n$trigger$",
        f"CREATE TRIGGER {name} {when.upper()} {' '.join(event.split())} ON {table} FOR EACH ROW{when_clause} "
        f"EXECUTE FUNCTION {function}()",
    ]


@functools.lru_cache(maxsize=512)
def translate_ddl(sql: str) -> tuple[str, ...]:
    """One statement of a migration as the PostgreSQL statements that make the same thing.

    ``CREATE TABLE``: TEXT → text, INTEGER → bigint, BLOB → bytea, ``STRICT`` dropped (PostgreSQL's types
    are strict), ``INTEGER PRIMARY KEY [AUTOINCREMENT]`` → an identity column, an :data:`ORD` column where
    there is no such key, ``COLLATE NOCASE`` → an index on ``lower(column)`` (unique when the column was).
    ``CREATE TRIGGER … BEGIN … END`` → a PL/pgSQL function and a row trigger calling it. ``ALTER TABLE …
    ADD COLUMN`` → the column's type mapped. Anything else (indexes, data statements) as :func:`translate`
    rewrites a query, without placeholders. Statements run without parameters, so ``%`` stays as written.

    Raises:
        NotPortable: the statement cannot be made the same on PostgreSQL.
    """
    sql = _in_code(sql, _COMMENT, " ")
    if match := _CREATE_TABLE.match(sql):
        return tuple(_create_table(sql, match))
    if match := _CREATE_TRIGGER.match(sql):
        return tuple(_trigger(match))
    if match := _ADD_COLUMN.match(sql):
        extra: list[str] = []
        column, is_key = _column(match.group(1), match.group(2).strip().rstrip(";"), extra)
        if is_key:
            raise NotPortable("an INTEGER PRIMARY KEY added to an existing table", sql)
        return (f"ALTER TABLE {match.group(1)} ADD COLUMN {_common(column)}", *extra)
    if re.match(r"(?i)^\s*DROP\s+TRIGGER\b", _code_only(sql)):
        raise NotPortable("DROP TRIGGER (PostgreSQL needs the table: write a new migration per engine)", sql)
    return (_common(sql),)
