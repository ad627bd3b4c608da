"""What each entity's export holds: its columns (human headers) and the query that
reads one user's rows, in a stable order.

A :class:`Table`'s ``select`` returns plain column tuples (no ORM objects, so no
identity map grows while rows stream); ``cells`` turns one of them into the export's
:data:`~workhorse_reference.exports.values.Cell` values, in the writers' thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, Select, func, select

from workhorse_reference.domain.models import Contact, Invoice, Quote, Session
from workhorse_reference.exports.values import Cell, Money

#: A query of plain column tuples.
Query: TypeAlias = Select[*tuple[Any, ...]]

#: The entities of ``entity=all``, in the order they are written.
ENTITIES = ("sessions", "contacts", "quotes", "invoices")


class Kind(Enum):
    TEXT = "text"
    INTEGER = "integer"
    DATETIME = "datetime"
    MONEY = "money"


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # JSON key
    header: str  # human header (CSV, Excel, PDF, Word)
    kind: Kind = Kind.TEXT
    width: int = 16  # relative width, in characters (Excel, PDF, Word)


@dataclass(frozen=True, slots=True)
class Table:
    entity: str
    title: str
    columns: tuple[Column, ...]
    select: Callable[[str], Query]
    count: Callable[[str], Query]
    cells: Callable[[Sequence[Any]], tuple[Cell, ...]]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


def _contact_name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in (first, last) if p)


def _count(model: Any, *where: ColumnElement[bool]) -> Callable[[str], Query]:
    def build(user_id: str) -> Query:
        return select(func.count()).select_from(model).where(model.user_id == user_id, *where)

    return build


# ---- sessions ---------------------------------------------------------------------
def _sessions(user_id: str) -> Query:
    s = Session
    return (
        select(s.id, s.title, s.starts_at, s.ends_at, s.location, s.status, s.rrule, s.description)
        .where(s.user_id == user_id, s.deleted_at.is_(None))
        .order_by(s.starts_at, s.id)
    )


SESSIONS = Table(
    "sessions",
    "Sessions",
    (
        Column("id", "ID", Kind.INTEGER, 8),
        Column("title", "Title", width=28),
        Column("startsAt", "Starts (UTC)", Kind.DATETIME, 20),
        Column("endsAt", "Ends (UTC)", Kind.DATETIME, 20),
        Column("location", "Location", width=18),
        Column("status", "Status", width=11),
        Column("recurrence", "Recurrence", width=18),
        Column("description", "Description", width=36),
    ),
    _sessions,
    _count(Session, Session.deleted_at.is_(None)),
    lambda r: (r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "", r[7]),
)


# ---- contacts ---------------------------------------------------------------------
def _contacts(user_id: str) -> Query:
    c = Contact
    return (
        select(c.id, c.first_name, c.last_name, c.email, c.phone, c.company, c.created_at)
        .where(c.user_id == user_id)
        .order_by(c.last_name, c.first_name, c.id)
    )


CONTACTS = Table(
    "contacts",
    "Contacts",
    (
        Column("id", "ID", Kind.INTEGER, 8),
        Column("firstName", "First name", width=16),
        Column("lastName", "Last name", width=18),
        Column("email", "E-mail", width=28),
        Column("phone", "Phone", width=16),
        Column("company", "Company", width=22),
        Column("createdAt", "Created (UTC)", Kind.DATETIME, 20),
    ),
    _contacts,
    _count(Contact),
    tuple,
)


# ---- quotes -----------------------------------------------------------------------
def _quotes(user_id: str) -> Query:
    q = Quote
    return (
        select(
            q.id,
            q.number,
            q.title,
            Contact.first_name,
            Contact.last_name,
            q.amount_cents,
            q.currency,
            q.status,
            q.issued_on,
            q.valid_until,
        )
        .outerjoin(Contact, Contact.id == q.contact_id)
        .where(q.user_id == user_id)
        .order_by(q.issued_on, q.id)
    )


QUOTES = Table(
    "quotes",
    "Quotes",
    (
        Column("id", "ID", Kind.INTEGER, 8),
        Column("number", "Number", width=14),
        Column("title", "Title", width=28),
        Column("contact", "Contact", width=22),
        Column("amount", "Amount", Kind.MONEY, 16),
        Column("status", "Status", width=10),
        Column("issuedOn", "Issued (UTC)", Kind.DATETIME, 20),
        Column("validUntil", "Valid until (UTC)", Kind.DATETIME, 20),
    ),
    _quotes,
    _count(Quote),
    lambda r: (r[0], r[1], r[2], _contact_name(r[3], r[4]), Money(r[5], r[6]), *r[7:]),
)


# ---- invoices ---------------------------------------------------------------------
def _invoices(user_id: str) -> Query:
    i = Invoice
    return (
        select(
            i.id,
            i.number,
            Contact.first_name,
            Contact.last_name,
            i.amount_cents,
            i.currency,
            i.status,
            i.issued_on,
            i.due_on,
            i.paid_at,
        )
        .outerjoin(Contact, Contact.id == i.contact_id)
        .where(i.user_id == user_id)
        .order_by(i.issued_on, i.id)
    )


INVOICES = Table(
    "invoices",
    "Invoices",
    (
        Column("id", "ID", Kind.INTEGER, 8),
        Column("number", "Number", width=14),
        Column("contact", "Contact", width=22),
        Column("amount", "Amount", Kind.MONEY, 16),
        Column("status", "Status", width=10),
        Column("issuedOn", "Issued (UTC)", Kind.DATETIME, 20),
        Column("dueOn", "Due (UTC)", Kind.DATETIME, 20),
        Column("paidAt", "Paid (UTC)", Kind.DATETIME, 20),
    ),
    _invoices,
    _count(Invoice),
    lambda r: (r[0], r[1], _contact_name(r[2], r[3]), Money(r[4], r[5]), *r[6:]),
)

TABLES = {t.entity: t for t in (SESSIONS, CONTACTS, QUOTES, INVOICES)}


def tables_of(entity: str) -> list[Table]:
    """The tables of an export's ``entity`` (``all``: every entity)."""
    return [TABLES[e] for e in ENTITIES] if entity == "all" else [TABLES[entity]]
