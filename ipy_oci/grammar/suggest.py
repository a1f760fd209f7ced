""""Did you mean …?" for a mistyped flag or command, the same in the CLI and the magics.

Flags are never abbreviated (podman refuses ``--priv`` too), so a word that starts a
known flag is named as such; otherwise difflib's close matches catch typos
(``--nmae`` -> ``--name``, ``exce`` -> ``exec``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, known: Iterable[str], quote: bool = False) -> str:
    """``"did you mean --name?"``, or "" when nothing known is close to ``word``."""
    if not word:
        return ""
    names = sorted(set(known) - {word})
    show = (lambda k: repr(k)) if quote else (lambda k: k)
    longer = [k for k in names if word.startswith("--") and k.startswith(word)]
    if longer:
        return ("flags are never abbreviated: did you mean "
                f"{' or '.join(show(k) for k in longer)}?")
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.75)
    return f"did you mean {' or '.join(show(k) for k in close)}?" if close else ""
