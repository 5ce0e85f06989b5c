"""The team servers as infra/ configures them, probed over HTTP: Prefect answers 401 without its
auth string and 403 without a CSRF token, and allows no foreign origin; MLflow answers 401
without credentials (and to its old default admin password), 403 to a user without
permission, 400 to a `../` artifact path or a foreign Host header."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.slow
EVIL = "http://evil.example"


def call(base: str, method: str, path: str, headers: dict | None = None,
         body: dict | None = None) -> tuple[int, dict, bytes]:
    """A raw request (no client that would normalise `..` away or add credentials)."""
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    heads = {**({"Content-Type": "application/json"} if data else {}), **(headers or {})}
    conn.request(method, path, body=data, headers=heads)
    response = conn.getresponse()
    out = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    conn.close()
    return out


def basic(user_and_password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(user_and_password.encode()).decode()}


def test_prefect_wants_its_auth_string(team):
    user = team.prefect_auth.split(":")[0]
    assert call(team.prefect_url, "GET", "/api/admin/version")[0] == 401
    assert call(team.prefect_url, "GET", "/api/admin/version", basic(f"{user}:wrong"))[0] == 401
    assert call(team.prefect_url, "GET", "/api/admin/version", basic(team.prefect_auth))[0] == 200


def test_prefect_wants_a_csrf_token_and_allows_no_foreign_origin(team):
    auth = basic(team.prefect_auth)
    status, _, body = call(team.prefect_url, "POST", "/api/flows/filter", auth, {})
    assert (status, b"CSRF" in body) == (403, True)
    status, _, body = call(team.prefect_url, "GET", "/api/csrf-token?client=test", auth)
    token = json.loads(body)["token"]
    with_token = {**auth, "Prefect-Csrf-Token": token, "Prefect-Csrf-Client": "test"}
    assert call(team.prefect_url, "POST", "/api/flows/filter", with_token, {})[0] == 200
    status, headers, _ = call(team.prefect_url, "OPTIONS", "/api/flows/filter",
                              {"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in headers and status == 400


def test_mlflow_wants_credentials_and_not_the_old_default_password(team):
    path = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert call(team.mlflow_url, "GET", path)[0] == 401
    assert call(team.mlflow_url, "GET", path, basic("admin:password1234"))[0] == 401
    assert call(team.mlflow_url, "GET", path,
                basic(f"admin:{team.mlflow_admin_password}"))[0] == 200


def test_a_new_mlflow_user_sees_nothing_until_granted(team):
    admin = basic(f"admin:{team.mlflow_admin_password}")
    assert call(team.mlflow_url, "POST", "/api/2.0/mlflow/users/create", admin,
                {"username": "reader", "password": "reader-password-123"})[0] == 200
    status, _, body = call(team.mlflow_url, "POST", "/api/2.0/mlflow/experiments/create", admin,
                           {"name": "security-check"})
    experiment = json.loads(body)["experiment_id"]
    reader = basic("reader:reader-password-123")
    get = f"/api/2.0/mlflow/experiments/get?experiment_id={experiment}"
    assert call(team.mlflow_url, "GET", get, reader)[0] == 403  # NO_PERMISSIONS by default
    assert call(team.mlflow_url, "POST", "/api/3.0/mlflow/users/permissions/grant", admin,
                {"username": "reader", "resource_type": "experiment",
                 "resource_id": experiment, "permission": "READ"})[0] == 200
    assert call(team.mlflow_url, "GET", get, reader)[0] == 200
    status, _, _ = call(team.mlflow_url, "POST", "/api/2.0/mlflow/runs/create", reader,
                        {"experiment_id": experiment})
    assert status == 403  # READ does not write


@pytest.mark.parametrize("path", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd",
                                  "mlflow/../../../etc/passwd"])
def test_mlflow_refuses_artifact_paths_out_of_its_store(team, path):
    admin = basic(f"admin:{team.mlflow_admin_password}")
    status, _, body = call(team.mlflow_url, "GET",
                           f"/api/2.0/mlflow-artifacts/artifacts/{path}", admin)
    assert (status, b"Invalid path" in body) == (400, True)


def test_mlflow_refuses_foreign_hosts_and_origins(team):
    admin = basic(f"admin:{team.mlflow_admin_password}")
    path = "/api/2.0/mlflow/experiments/search?max_results=1"
    status, _, _ = call(team.mlflow_url, "GET", path, {**admin, "Host": "evil.example"})
    assert status in (400, 403)  # DNS rebinding: the Host is checked before anything else
    _, headers, _ = call(team.mlflow_url, "OPTIONS", path,
                         {"Origin": EVIL, "Access-Control-Request-Method": "GET"})
    assert headers.get("access-control-allow-origin") != EVIL
