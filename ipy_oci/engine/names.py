"""Generated container names (adjective_noun) and random 64-hex IDs."""

from __future__ import annotations

import os

_ADJECTIVES = (
    "amber", "brave", "calm", "clever", "cosmic", "crisp", "dapper", "eager", "fuzzy",
    "gentle", "golden", "happy", "hardy", "jolly", "keen", "lively", "lucid", "mellow",
    "nimble", "noble", "plucky", "quiet", "rapid", "rustic", "serene", "shiny", "snappy",
    "spry", "steady", "sunny", "swift", "tidy", "vivid", "witty", "zesty",
)
_NOUNS = (
    "albatross", "badger", "beaver", "bison", "crane", "dolphin", "falcon", "ferret",
    "gecko", "heron", "ibis", "jackal", "koala", "lemur", "lynx", "marmot", "newt",
    "ocelot", "otter", "panda", "pelican", "puffin", "quokka", "raven", "salmon", "seal",
    "shrew", "stoat", "tapir", "toucan", "vole", "walrus", "wombat", "yak", "zebra",
)


def new_id() -> str:
    return os.urandom(32).hex()


def generate_name() -> str:
    # os.urandom rather than secrets: the CLI imports this on every start.
    a, b = os.urandom(2)
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_NOUNS[b % len(_NOUNS)]}"


def valid_name(name: str) -> bool:
    """Podman's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]*"""
    if not name or not name[0].isascii() or not name[0].isalnum():
        return False
    return all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)
