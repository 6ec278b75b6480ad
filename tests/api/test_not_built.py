"""Endpoints of SPEC §5 that are not built yet answer 501 in the envelope, after their scope."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from billabled.api.not_built import NOT_BUILT
from billabled.auth.scopes import Scope
from tests.factories import Factory, Key, Workspace


def _concrete(path: str) -> str:
    return "/api/v1" + re.sub(r"\{[^}]+\}", "x_1", path)


@pytest.mark.parametrize(("method", "path", "scope"), [(m, p, s) for m, p, s, *_ in NOT_BUILT])
def test_not_built_endpoints_answer_501_after_checking_the_scope(
    client: TestClient,
    factory: Factory,
    workspace: Workspace,
    owner_key: Key,
    method: str,
    path: str,
    scope: Scope,
) -> None:
    url = _concrete(path)
    assert client.request(method, url).status_code == 401
    other = factory.key(
        workspace,
        scopes=frozenset({Scope.READ_TAGS})
        if scope != Scope.READ_TAGS
        else frozenset({Scope.READ_USERS}),
    )
    refused = client.request(method, url, headers=other.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["requiredScope"] == scope.value
    response = client.request(method, url, headers=owner_key.headers)
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "not_implemented"


def test_the_seeds_example_requests_answer(client: TestClient, owner_key: Key) -> None:
    """Both seeds' examples, as written, answer with a real status (not 404)."""
    for path in (
        "/api/v1/export?format=json&projectId=proj_123",
        "/api/v1/proof-packs?invoiceId=inv_123",
        "/api/v1/revenue-intelligence",
    ):
        assert (
            client.get(path, headers={"Authorization": f"Bearer {owner_key.raw}"}).status_code
            == 501
        )
    assert (
        client.get("/api/v1/customers?page=1&pageSize=20", headers=owner_key.headers).status_code
        == 200
    )
    assert client.get("/api/v1/me", headers=owner_key.headers).status_code == 200
