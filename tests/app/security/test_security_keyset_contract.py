"""The keysets the operator writes over a whole rotation timeline are accepted by the app,
and the key the app signs with is always the operator's active one (docs/interfaces.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.security.keys import parse_keyset

operator_keys = pytest.importorskip("storefront_operator.keys")


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_every_keyset_of_a_rotation_timeline_parses(alg):
    policy = operator_keys.KeyPolicy(alg, timedelta(hours=1), timedelta(minutes=2), timedelta(minutes=15),
                                     timedelta(seconds=30))
    now = datetime(2026, 11, 26, tzinfo=UTC)
    keyset, seen_states, signing_kids = None, set(), set()
    for _ in range(40):
        keyset = operator_keys.advance(keyset, policy, now).keyset
        parsed = parse_keyset(operator_keys.dumps(keyset).encode())
        assert parsed.active_kid == keyset["active_kid"] and parsed.active.alg == alg
        seen_states |= {key.state for key in parsed.keys.values()}
        signing_kids.add(parsed.active_kid)
        now += timedelta(minutes=7)
    assert seen_states == {"pending", "active", "retired"}
    assert len(signing_kids) > 2  # it really rotated
