"""What pending migrations will do, before they run: a plan, revision by revision, classified.

Each pending revision's ``upgrade()`` is rendered as Alembic offline SQL (nothing is executed)
and every statement is classified against the live schema (the catalog: tables, columns with
their types, indexes), which the plan updates as it goes, so a table or column created earlier
in the same plan counts as new:

- ``destructive``: breaks or loses what the running version uses: dropping a table, column,
  constraint or index that exists, renaming a table or column, a type change that can lose
  data (narrowing, or one the classifier cannot prove widening), a NOT NULL column without a
  default on an existing table, TRUNCATE, DELETE without WHERE;
- ``locking``: rewrites a table or holds an exclusive lock while it scans or builds: a
  non-concurrent index on an existing table, a type change that rewrites the table (e.g.
  integer to bigint), SET NOT NULL, a validated foreign-key, check, unique or primary-key
  constraint, a volatile column default, VACUUM FULL, CLUSTER, LOCK TABLE, non-concurrent
  REINDEX or materialized-view refresh;
- ``safe``: everything else (new tables, nullable columns, columns with a constant default,
  concurrent indexes, widening a varchar, data statements with a WHERE).

A revision marks itself post-deployment with a module-level ``post_deployment = True``: the
operator runs it only after the new version is fully rolled out (expand/contract,
docs/operator.md). The operator decides from the plan; nothing here refuses anything.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

SAFE, DESTRUCTIVE, LOCKING = "safe", "destructive", "locking"
POST_DEPLOYMENT_MARKER = "post_deployment"
# Kubernetes keeps at most 4096 bytes of a container's termination message.
TERMINATION_MESSAGE_LIMIT = 4096


# --- the schema as it stands ------------------------------------------------------------------
@dataclass
class Catalog:
    """Tables (column -> type), indexes (name -> table) of the database's current schema, and
    what the plan created so far (new objects are not used by any running version)."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    new_tables: set[str] = field(default_factory=set)
    new_columns: set[tuple[str, str]] = field(default_factory=set)
    new_indexes: set[str] = field(default_factory=set)

    def existing_table(self, table: str) -> bool:
        return table in self.tables and table not in self.new_tables

    def existing_column(self, table: str, column: str) -> bool:
        return self.existing_table(table) and column in self.tables[table] and (table, column) not in self.new_columns

    def add_table(self, table: str, columns: dict[str, str]) -> None:
        self.tables[table] = dict(columns)
        self.new_tables.add(table)

    def add_column(self, table: str, column: str, type_: str) -> None:
        self.tables.setdefault(table, {})[column] = type_
        self.new_columns.add((table, column))


def read_catalog(connection: Connection) -> Catalog:
    """The current schema's tables, columns (with PostgreSQL's own type names) and indexes."""
    catalog = Catalog()
    rows = connection.execute(text(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"))
    for table, column, type_ in rows:
        catalog.tables.setdefault(table, {})[column] = normalise_type(type_)
    for name, table in connection.execute(text("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema()")):
        catalog.indexes[name] = table
    return catalog


def current_revision(connection: Connection) -> str | None:
    exists = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    if exists is None:
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


# --- types ------------------------------------------------------------------------------------
_TYPE_ALIASES = {
    "varchar": "character varying", "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
    "bool": "boolean", "float8": "double precision", "float": "double precision", "float4": "real",
    "timestamp": "timestamp without time zone", "timestamptz": "timestamp with time zone",
    "decimal": "numeric", "char": "character", "time": "time without time zone",
}
_INTEGER_WIDTH = {"smallint": 2, "integer": 4, "bigint": 8}


def normalise_type(raw: str) -> str:
    t = re.sub(r"\s+", " ", raw.strip().lower().replace('"', ""))
    t = re.sub(r"\s*\(\s*", "(", t)
    t = re.sub(r"\s*,\s*", ",", t)
    t = re.sub(r"\s*\)", ")", t)
    base, _, args = t.partition("(")
    base = _TYPE_ALIASES.get(base.strip(), base.strip())
    return f"{base}({args}" if args else base


def _args(t: str) -> list[int]:
    inside = t.partition("(")[2].rstrip(")")
    return [int(x) for x in inside.split(",") if x.strip().isdigit()]


def type_change(old: str, new: str) -> tuple[str, str]:
    """(kind, why) of changing a column's type from ``old`` to ``new`` (both normalised)."""
    if old == new:
        return SAFE, "same type"
    old_base, new_base = old.partition("(")[0], new.partition("(")[0]
    if old_base == "character varying" and new_base in ("character varying", "text"):
        if new_base == "text" or "(" not in new:
            return SAFE, "widens (no rewrite)"
        if "(" in old and _args(new)[0] >= _args(old)[0]:
            return SAFE, "widens (no rewrite)"
        return DESTRUCTIVE, "narrows: longer values are lost or refused"
    if old_base == "numeric" and new_base == "numeric":
        if "(" not in new:
            return SAFE, "widens (no rewrite)"
        if "(" in old:
            (p1, s1, *_), (p2, s2, *_) = _args(old) + [0], _args(new) + [0]
            if s1 == s2 and p2 >= p1:
                return SAFE, "widens (no rewrite)"
        return DESTRUCTIVE, "changes precision or scale: values may be rounded or refused"
    if old_base in _INTEGER_WIDTH and new_base in _INTEGER_WIDTH:
        if _INTEGER_WIDTH[new_base] > _INTEGER_WIDTH[old_base]:
            return LOCKING, "widens, but rewrites the table under an exclusive lock"
        return DESTRUCTIVE, "narrows: large values are refused"
    if old_base in _INTEGER_WIDTH and new_base in ("numeric", "double precision") and "(" not in new:
        return LOCKING, "widens, but rewrites the table under an exclusive lock"
    if old_base == "real" and new_base == "double precision":
        return LOCKING, "widens, but rewrites the table under an exclusive lock"
    if old_base == "timestamp without time zone" and new_base == "timestamp with time zone":
        return LOCKING, "reinterprets the values in the session's time zone and rewrites the table"
    return DESTRUCTIVE, "may lose data or break the running version's reads and writes"


# --- statements -------------------------------------------------------------------------------
_IDENT = r'(?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?'
_COLUMN_END = re.compile(r"\s+(?:NOT\s+NULL|NULL|DEFAULT|PRIMARY|UNIQUE|REFERENCES|CHECK|CONSTRAINT|GENERATED|COLLATE)\b.*$",
                         re.IGNORECASE | re.DOTALL)
_VOLATILE_DEFAULT = re.compile(r"\bDEFAULT\s+\(?\s*(?:NOW|CLOCK_TIMESTAMP|STATEMENT_TIMESTAMP|TIMEOFDAY|RANDOM|"
                               r"GEN_RANDOM_UUID|UUID_GENERATE_V[1-4]|NEXTVAL)\s*\(|\bGENERATED\s+ALWAYS\s+AS\s*\(.*\)\s*STORED|"
                               r"^\S+\s+(?:SMALL|BIG)?SERIAL\b", re.IGNORECASE | re.DOTALL)
_TABLE_CONSTRAINT = re.compile(r"^(?:CONSTRAINT\s+" + _IDENT + r"\s+)?(PRIMARY\s+KEY|UNIQUE|FOREIGN\s+KEY|CHECK|EXCLUDE)\b",
                               re.IGNORECASE)


def _name(ident: str) -> str:
    """An identifier without quotes or schema: what the catalog is keyed by."""
    return ident.split(".")[-1].strip('"')


def split_statements(sql: str) -> list[str]:
    """Offline SQL into statements: comments dropped, whitespace collapsed, no terminator."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    statements = []
    for chunk in re.split(r";\s*(?:\n|$)", "\n".join(lines)):
        statement = re.sub(r"\s+", " ", chunk).strip()
        if statement:
            statements.append(statement)
    return statements


def _split_top_level(text_: str) -> list[str]:
    parts, depth, current, quoted = [], 0, [], False
    for ch in text_:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


Finding = tuple[str, str]  # (kind, description)


def classify_statement(statement: str, catalog: Catalog) -> list[Finding]:
    """What one statement does, as findings; updates ``catalog`` with what it creates or drops."""
    s = statement
    u = s.upper()
    if u in ("BEGIN", "COMMIT") or u.startswith(("BEGIN ", "START TRANSACTION", "SET ")):
        return []
    m = re.match(r"CREATE\s+(?:UNLOGGED\s+|TEMP\s+|TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(" + _IDENT + r")\s*\((.*)\)",
                 s, re.IGNORECASE | re.DOTALL)
    if m:
        table = _name(m.group(1))
        columns = {}
        for part in _split_top_level(m.group(2)):
            if _TABLE_CONSTRAINT.match(part) or re.match(r"LIKE\b", part, re.IGNORECASE):
                continue
            col, _, rest = part.partition(" ")
            columns[_name(col)] = normalise_type(_COLUMN_END.sub("", rest))
        catalog.add_table(table, columns)
        return [(SAFE, f"create table {table}")]
    m = re.match(r"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(.+?)(?:\s+(?:CASCADE|RESTRICT))?$", s, re.IGNORECASE)
    if m:
        findings = []
        for ident in _split_top_level(m.group(1)):
            table = _name(ident)
            kind = DESTRUCTIVE if catalog.existing_table(table) else SAFE
            catalog.tables.pop(table, None)
            findings.append((kind, f"drop table {table}"))
        return findings
    m = re.match(r"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(" + _IDENT + r")\s+(.*)$", s, re.IGNORECASE | re.DOTALL)
    if m:
        return _alter_table(_name(m.group(1)), m.group(2), catalog)
    m = re.match(r"CREATE\s+(UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(" + _IDENT + r"\s+)?ON\s+(?:ONLY\s+)?("
                 + _IDENT + r")", s, re.IGNORECASE)
    if m:
        index, table = _name((m.group(3) or "").strip() or "(unnamed)"), _name(m.group(4))
        catalog.indexes[index] = table
        catalog.new_indexes.add(index)
        what = f"create {'unique ' if m.group(1) else ''}index {index} on {table}"
        if catalog.existing_table(table) and not m.group(2):
            return [(LOCKING, f"{what} without CONCURRENTLY: blocks writes to {table} while it builds")]
        return [(SAFE, what)]
    m = re.match(r"DROP\s+INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(" + _IDENT + r")", s, re.IGNORECASE)
    if m:
        index = _name(m.group(2))
        existed = index in catalog.indexes and index not in catalog.new_indexes
        catalog.indexes.pop(index, None)
        if not existed:
            return [(SAFE, f"drop index {index} (not in use)")]
        findings = [(DESTRUCTIVE, f"drop index {index}: a running version may rely on it")]
        if not m.group(1):
            findings.append((LOCKING, f"drop index {index} without CONCURRENTLY: locks its table"))
        return findings
    m = re.match(r"TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(.+?)(?:\s+(?:RESTART|CONTINUE|CASCADE|RESTRICT)\b.*)?$", s, re.IGNORECASE)
    if m:
        return [(DESTRUCTIVE, f"truncate {', '.join(_name(t) for t in _split_top_level(m.group(1)))}")]
    m = re.match(r"DELETE\s+FROM\s+(?:ONLY\s+)?(" + _IDENT + r")(.*)$", s, re.IGNORECASE)
    if m:
        if re.search(r"\bWHERE\b", m.group(2), re.IGNORECASE):
            return [(SAFE, f"delete some rows of {_name(m.group(1))}")]
        return [(DESTRUCTIVE, f"delete every row of {_name(m.group(1))}")]
    m = re.match(r"DROP\s+(VIEW|MATERIALIZED\s+VIEW|SEQUENCE|TYPE|SCHEMA|FUNCTION|TRIGGER|EXTENSION|DOMAIN)\s+(?:IF\s+EXISTS\s+)?(\S+)",
                 s, re.IGNORECASE)
    if m:
        return [(DESTRUCTIVE, f"drop {m.group(1).lower()} {_name(m.group(2))}")]
    if re.match(r"VACUUM\s+(?:\(.*FULL.*\)|FULL)\b", s, re.IGNORECASE) or re.match(r"CLUSTER\b", s, re.IGNORECASE) \
            or re.match(r"LOCK\s+(?:TABLE\s+)?", s, re.IGNORECASE) \
            or (re.match(r"REINDEX\b", s, re.IGNORECASE) and not re.search(r"\bCONCURRENTLY\b", s, re.IGNORECASE)) \
            or (re.match(r"REFRESH\s+MATERIALIZED\s+VIEW\b", s, re.IGNORECASE) and not re.search(r"\bCONCURRENTLY\b", s, re.IGNORECASE)):
        return [(LOCKING, f"{' '.join(s.split()[:4]).lower()}: holds an exclusive lock")]
    return [(SAFE, s if len(s) <= 80 else s[:77] + "...")]


def _alter_table(table: str, rest: str, catalog: Catalog) -> list[Finding]:
    existing = catalog.existing_table(table)
    m = re.match(r"RENAME\s+TO\s+(" + _IDENT + r")$", rest, re.IGNORECASE)
    if m:
        new = _name(m.group(1))
        catalog.tables[new] = catalog.tables.pop(table, {})
        if table in catalog.new_tables:
            catalog.new_tables.add(new)
        return [(DESTRUCTIVE if existing else SAFE, f"rename table {table} to {new}")]
    m = re.match(r"RENAME\s+(?:COLUMN\s+)?(" + _IDENT + r")\s+TO\s+(" + _IDENT + r")$", rest, re.IGNORECASE)
    if m and m.group(1).upper() != "CONSTRAINT":
        old, new = _name(m.group(1)), _name(m.group(2))
        was_existing = catalog.existing_column(table, old)
        columns = catalog.tables.setdefault(table, {})
        columns[new] = columns.pop(old, "")
        if not was_existing:
            catalog.new_columns.add((table, new))
        return [(DESTRUCTIVE if was_existing else SAFE, f"rename column {table}.{old} to {new}")]
    if re.match(r"RENAME\s+CONSTRAINT\b", rest, re.IGNORECASE):
        return [(SAFE, f"rename a constraint of {table}")]
    findings: list[Finding] = []
    for action in _split_top_level(rest):
        findings.extend(_alter_action(table, action, existing, catalog))
    return findings


def _alter_action(table: str, action: str, existing: bool, catalog: Catalog) -> list[Finding]:
    m = re.match(r"ADD\s+(.*)$", action, re.IGNORECASE | re.DOTALL)
    if m and _TABLE_CONSTRAINT.match(m.group(1)):
        kind_word = _TABLE_CONSTRAINT.match(m.group(1)).group(1).upper().split()[0]
        what = f"add {kind_word.lower()} constraint on {table}"
        body = m.group(1).upper()
        if not existing or "NOT VALID" in body or "USING INDEX" in body:
            return [(SAFE, what)]
        if kind_word in ("FOREIGN", "CHECK"):
            return [(LOCKING, f"{what}: validates every row while holding a lock (add it NOT VALID, then VALIDATE)")]
        return [(LOCKING, f"{what}: builds an index under an exclusive lock (build it CONCURRENTLY, then USING INDEX)")]
    if m:
        col_m = re.match(r"(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(" + _IDENT + r")\s+(.*)$", m.group(1), re.IGNORECASE | re.DOTALL)
        if not col_m:
            return [(SAFE, f"alter table {table}: {action[:60]}")]
        column, definition = _name(col_m.group(1)), col_m.group(2)
        catalog.add_column(table, column, normalise_type(_COLUMN_END.sub("", definition)))
        upper = definition.upper()
        has_default = bool(re.search(r"\bDEFAULT\b|\bGENERATED\b", upper)) or bool(re.match(r"(?:SMALL|BIG)?SERIAL\b", upper))
        not_null = "NOT NULL" in upper or "PRIMARY KEY" in upper
        if existing and not_null and not has_default:
            return [(DESTRUCTIVE, f"add NOT NULL column {table}.{column} without a default: existing rows and "
                                  "the running version's inserts fail")]
        if existing and _VOLATILE_DEFAULT.search(f"{column} {definition}"):
            return [(LOCKING, f"add column {table}.{column} with a volatile default: rewrites {table} under an exclusive lock")]
        return [(SAFE, f"add column {table}.{column}")]
    m = re.match(r"DROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?(" + _IDENT + r")", action, re.IGNORECASE)
    if m:
        return [(DESTRUCTIVE if existing else SAFE, f"drop constraint {_name(m.group(1))} on {table}")]
    m = re.match(r"DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(" + _IDENT + r")", action, re.IGNORECASE)
    if m:
        column = _name(m.group(1))
        was_existing = catalog.existing_column(table, column)
        catalog.tables.get(table, {}).pop(column, None)
        return [(DESTRUCTIVE if was_existing else SAFE, f"drop column {table}.{column}")]
    m = re.match(r"ALTER\s+(?:COLUMN\s+)?(" + _IDENT + r")\s+(?:SET\s+DATA\s+)?TYPE\s+(.*)$", action, re.IGNORECASE | re.DOTALL)
    if m:
        column = _name(m.group(1))
        using = re.search(r"\s+USING\s+", m.group(2), re.IGNORECASE)
        new_raw = m.group(2)[:using.start()] if using else m.group(2)
        new = normalise_type(re.sub(r"\s+COLLATE\s+.*$", "", new_raw, flags=re.IGNORECASE))
        old = catalog.tables.get(table, {}).get(column)
        was_existing = catalog.existing_column(table, column)
        catalog.tables.setdefault(table, {})[column] = new
        what = f"change type of {table}.{column}" + (f" from {old}" if old else "") + f" to {new}"
        if not was_existing:
            return [(SAFE, what)]
        if using:
            return [(DESTRUCTIVE, f"{what} USING a conversion: may lose data; rewrites the table")]
        kind, why = type_change(old or "", new)
        return [(kind, f"{what}: {why}")]
    m = re.match(r"ALTER\s+(?:COLUMN\s+)?(" + _IDENT + r")\s+SET\s+NOT\s+NULL$", action, re.IGNORECASE)
    if m:
        column = _name(m.group(1))
        if catalog.existing_column(table, column):
            return [(LOCKING, f"set NOT NULL on {table}.{column}: scans {table} under an exclusive lock "
                              "(add a CHECK ... NOT VALID constraint and validate it first)")]
        return [(SAFE, f"set NOT NULL on {table}.{column}")]
    return [(SAFE, f"alter table {table}: {' '.join(action.split()[:6]).lower()}")]


# --- revisions and the plan ------------------------------------------------------------------
@dataclass
class RevisionPlan:
    revision: str
    post_deployment: bool
    destructive: list[str] = field(default_factory=list)
    locking: list[str] = field(default_factory=list)
    safe: list[str] = field(default_factory=list)

    @property
    def safety(self) -> str:
        return DESTRUCTIVE if self.destructive else LOCKING if self.locking else SAFE

    def as_dict(self, with_safe: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"revision": self.revision, "safety": self.safety}
        if self.post_deployment:
            out["postDeployment"] = True
        if self.destructive:
            out["destructive"] = self.destructive
        if self.locking:
            out["locking"] = self.locking
        if with_safe and self.safe:
            out["safe"] = self.safe
        return out


@dataclass
class Plan:
    current: str | None
    head: str | None
    revisions: list[RevisionPlan]

    @property
    def pre_deployment_target(self) -> str | None:
        """The last revision to run before the rollout: the one before the first post-deployment
        revision (the chain is linear, so every revision after it waits too)."""
        target = self.current
        for rev in self.revisions:
            if rev.post_deployment:
                return target
            target = rev.revision
        return target

    def as_dict(self, with_safe: bool = True) -> dict[str, Any]:
        return {"from": self.current, "to": self.head, "preDeploymentTarget": self.pre_deployment_target,
                "revisions": [r.as_dict(with_safe) for r in self.revisions]}

    def termination_message(self) -> str:
        """The plan as one JSON line within Kubernetes's 4096-byte limit: the safe operations go
        first, then long descriptions are cut; flagged operations are always named."""
        for with_safe, cut in ((True, None), (False, None), (False, 120), (False, 60)):
            doc = self.as_dict(with_safe)
            if cut:
                for rev in doc["revisions"]:
                    for key in (DESTRUCTIVE, LOCKING):
                        if key in rev:
                            rev[key] = [d[:cut] for d in rev[key][:5]]
            line = json.dumps(doc, separators=(",", ":"))
            if len(line.encode()) <= TERMINATION_MESSAGE_LIMIT:
                return line
        doc = {"from": self.current, "to": self.head, "preDeploymentTarget": self.pre_deployment_target,
               "revisions": [{"revision": r.revision, "safety": r.safety, **({"postDeployment": True} if r.post_deployment else {})}
                             for r in self.revisions]}
        return json.dumps(doc, separators=(",", ":"))[:TERMINATION_MESSAGE_LIMIT]


def is_post_deployment(script: Script) -> bool:
    return bool(getattr(script.module, POST_DEPLOYMENT_MARKER, False))


def pending_scripts(scripts: ScriptDirectory, current: str | None) -> list[Script]:
    """Revisions after ``current`` up to the single head, oldest first."""
    heads = scripts.get_heads()
    if len(heads) != 1:
        raise ValueError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them first")
    return list(reversed(list(scripts.iterate_revisions(heads[0], current))))


def render_offline(script: Script) -> str:
    """The revision's upgrade() as offline SQL for PostgreSQL; nothing touches a database."""
    buffer = io.StringIO()
    context = MigrationContext.configure(dialect_name="postgresql",
                                         opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True})
    with Operations.context(context):
        script.module.upgrade()
    return buffer.getvalue()


def plan_revision(script: Script, catalog: Catalog) -> RevisionPlan:
    rev = RevisionPlan(script.revision, is_post_deployment(script))
    try:
        sql = render_offline(script)
    except Exception as exc:  # noqa: BLE001 - what cannot be planned is not assumed safe
        rev.destructive.append(f"cannot be planned from offline SQL ({type(exc).__name__}: {str(exc)[:120]}); "
                               "review it by hand")
        return rev
    for statement in split_statements(sql):
        for kind, description in classify_statement(statement, catalog):
            getattr(rev, kind).append(description)
    return rev


def make_plan(scripts: ScriptDirectory, current: str | None, catalog: Catalog) -> Plan:
    pending = pending_scripts(scripts, current)
    head = pending[-1].revision if pending else current
    return Plan(current, head, [plan_revision(script, catalog) for script in pending])


def plan_for(connection: Connection, scripts: ScriptDirectory) -> Plan:
    """The plan of ``scripts`` against the database behind ``connection`` (read only)."""
    return make_plan(scripts, current_revision(connection), read_catalog(connection))
