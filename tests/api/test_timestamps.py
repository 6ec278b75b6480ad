"""A record just created reads as never updated: its `updatedAt` is its `createdAt`, to the
microsecond (polling triggers tell new records from updated ones by comparing the two)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Factory, Key, Workspace

API = "/api/v1"


def test_every_new_record_has_updated_at_equal_to_created_at(
    client: TestClient, factory: Factory, workspace: Workspace, owner_key: Key
) -> None:
    def create(path: str, body: dict[str, object]) -> dict[str, object]:
        response = client.post(f"{API}{path}", json=body, headers=owner_key.headers)
        assert response.status_code == 201, response.text
        created: dict[str, object] = response.json()
        return created

    client_id = create("/clients", {"name": "Acme"})["id"]
    project_id = create("/projects", {"clientId": client_id, "name": "Site"})["id"]
    task_id = create("/tasks", {"projectId": project_id, "name": "Design"})["id"]
    records = [
        create("/tags", {"name": "Urgent"}),
        create("/subtasks", {"taskId": task_id, "name": "Sketch"}),
        create(
            "/schedule",
            {
                "userId": workspace.owner_id,
                "projectId": project_id,
                "date": "2026-03-02",
                "plannedSeconds": 3600,
            },
        ),
        create(
            "/time-entries", {"projectId": project_id, "date": "2026-03-02", "durationSeconds": 60}
        ),
    ]
    bulk = client.post(
        f"{API}/time-entries/bulk",
        json={"items": [{"projectId": project_id, "date": "2026-03-03", "durationSeconds": 60}]},
        headers=owner_key.headers,
    )
    assert bulk.status_code == 201, bulk.text
    records.extend(bulk.json()["items"])
    for path, record_id in (("clients", client_id), ("projects", project_id), ("tasks", task_id)):
        response = client.get(f"{API}/{path}/{record_id}", headers=owner_key.headers)
        records.append(response.json())

    for record in records:
        assert record["updatedAt"] == record["createdAt"], record

    # The first change moves `updatedAt` on, and only it.
    changed = client.patch(
        f"{API}/clients/{client_id}", json={"name": "Acme Ltd"}, headers=owner_key.headers
    ).json()
    assert changed["updatedAt"] > changed["createdAt"]
