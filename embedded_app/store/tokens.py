"""OAuth tokens at rest: encrypted with :class:`~embedded_app.crypto.SecretBox`, one row per owner.

Owner keys: ``"user:<procore user id>"`` for a person's connection, ``"service:<client id>"`` for the service
account. Every save bumps ``generation`` so a refresher can tell whether someone else refreshed first;
:meth:`TokenStore.immediate` opens a ``BEGIN IMMEDIATE`` transaction (SQLite's write lock, across processes) in
which that check and the save happen atomically.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlite_utils

from ..crypto import SecretBox


def user_owner(user_id: int) -> str:
    return f"user:{int(user_id)}"


def service_owner(client_id: str) -> str:
    return f"service:{client_id}"


@dataclass(frozen=True)
class StoredToken:
    owner: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    generation: int
    user_id: int | None = None
    updated_at: str = ""

    def expires_within(self, seconds: float, now: float) -> bool:
        return self.expires_at - now <= seconds


class TokenStore:
    """Encrypted token rows in ``oauth_tokens``. Use one instance (one connection) per thread."""

    def __init__(self, db: sqlite_utils.Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    def __repr__(self) -> str:
        return f"TokenStore({self.location()!r})"

    def location(self) -> str:
        """A name for the database file (the same for every connection to it); used to key in-process locks."""
        for row in self.db.execute("PRAGMA database_list").fetchall():
            if row[1] == "main":
                return row[2] or f"memory:{id(self.db.conn)}"
        return f"memory:{id(self.db.conn)}"

    def get(self, owner: str) -> StoredToken | None:
        rows = self.db.execute(
            "select owner, user_id, access_token_enc, refresh_token_enc, expires_at, generation, updated_at "
            "from oauth_tokens where owner = ?",
            [owner],
        ).fetchall()
        if not rows:
            return None
        owner_, user_id, access_enc, refresh_enc, expires_at, generation, updated_at = rows[0]
        return StoredToken(
            owner=owner_,
            user_id=user_id,
            access_token=self.box.decrypt(access_enc),
            refresh_token=self.box.decrypt(refresh_enc) if refresh_enc else None,
            expires_at=float(expires_at or 0),
            generation=int(generation or 0),
            updated_at=updated_at or "",
        )

    def save(
        self,
        owner: str,
        *,
        access_token: str,
        refresh_token: str | None,
        expires_at: float,
        user_id: int | None = None,
    ) -> StoredToken:
        """Insert or replace the owner's tokens (encrypted) and bump the generation."""
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        with self.db.atomic():
            row = self.db.execute("select generation, user_id from oauth_tokens where owner = ?", [owner]).fetchone()
            generation = (int(row[0] or 0) if row else 0) + 1
            if user_id is None and row is not None:
                user_id = row[1]
            # Fernet output is random per call; a random salt column is not needed.
            self.db.execute(
                "insert or replace into oauth_tokens (owner, user_id, access_token_enc, refresh_token_enc, "
                "expires_at, updated_at, generation) values (?, ?, ?, ?, ?, ?, ?)",
                [
                    owner,
                    user_id,
                    self.box.encrypt(access_token),
                    self.box.encrypt(refresh_token) if refresh_token else None,
                    float(expires_at),
                    now,
                    generation,
                ],
            )
        return StoredToken(owner, access_token, refresh_token, float(expires_at), generation, user_id, now)

    def delete(self, owner: str) -> bool:
        cursor = self.db.execute("delete from oauth_tokens where owner = ?", [owner])
        return cursor.rowcount > 0

    @contextlib.contextmanager
    def immediate(self) -> Iterator[TokenStore]:
        """A ``BEGIN IMMEDIATE`` transaction: other writers (threads or processes) wait until it ends.

        Inside an already open transaction it becomes a savepoint (the caller's transaction decides).
        """
        conn = self.db.conn
        if conn.in_transaction:
            name = f"tokens_{secrets.token_hex(8)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            conn.execute(f"RELEASE SAVEPOINT {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
