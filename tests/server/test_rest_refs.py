"""References with LIKE wildcards never match: ``%`` and ``_`` are literal."""

from __future__ import annotations

from typing import Any


async def test_wildcards_in_refs_match_nothing(api: Any, container: Any) -> None:
    code, data = await api("POST", "containers", "box", "exec", body={"Cmd": ["true"]})
    assert code == 201
    sid = data["Id"]
    for ref in ("%", f"%{sid[1:8]}", "_" + sid[1:8], sid[:4] + "%", "%25" + sid[:8]):
        code, _ = await api("GET", "exec", ref)
        assert code == 404, ref
    code, one = await api("GET", "exec", sid[:8])
    assert code == 200 and one["ID"] == sid
    for ref in ("%", "_ox", "b_x", container.id[:4] + "%"):
        code, _ = await api("GET", "containers", ref)
        assert code == 404, ref
    assert (await api("DELETE", "exec", sid))[0] == 204
