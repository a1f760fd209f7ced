"""Persistent state: the SQLite database, file locks and process identities."""
