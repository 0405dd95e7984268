"""Authentication: API keys (CLI and GraphQL), bearer JWTs (HS256, RS256), WebSockets.

Without valid credentials the API answers 401 with a GraphQL-shaped error; only ``/healthz``
is public. Keys are stored as hashes and a revoked or expired key is refused at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from httpx_ws import WebSocketDisconnect
from pydantic import SecretStr
from security_support import anonymous, bearer, closed_code, socket, token_of
from sqlalchemy import text, update

from crm_graph.auth.models import ApiKey
from crm_graph.auth.tokens import issue_token
from crm_graph.db.models import utcnow
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

VIEWER = "{ viewer { id name role userId } }"
CREATE_KEY = """
mutation ($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { key apiKey { id name role userId prefix } errors { code field } }
}
"""


async def viewer(client: GraphQLClient, credential: str) -> dict:
    async with anonymous(client) as http:
        response = await http.post("/graphql", json={"query": VIEWER}, headers=bearer(credential))
    return {"status": response.status_code, **response.json()}


def code(answer: dict) -> str:
    return answer["errors"][0]["extensions"]["code"]


async def test_without_credentials_only_healthz_answers(client: GraphQLClient) -> None:
    async with anonymous(client) as http:
        missing = await http.post("/graphql", json={"query": VIEWER})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (await http.get("/graphql", params={"query": VIEWER})).status_code == 401
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-credential", "Bearer a.b.c"):
            refused = await http.post(
                "/graphql", json={"query": VIEWER}, headers={"Authorization": header}
            )
            assert refused.status_code == 401, header
        assert (await http.get("/plugins")).status_code == 401
        assert (await http.get("/healthz")).status_code == 200
    assert (await client.http.get("/plugins")).status_code == 200
    answered = await client.http.post("/graphql", json={"query": VIEWER})
    assert answered.json()["data"]["viewer"]["role"] == "admin"
    assert answered.headers["x-request-id"]


async def test_graphiql_page_opens_without_credentials_outside_production(
    client: GraphQLClient,
) -> None:
    async with anonymous(client) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "<html" in page.text.lower()


async def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``crm-graph keys ...`` off the event loop: the app under test keeps serving (and
    finishing its own transactions) meanwhile."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "crm_graph", "keys", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_cli_keys_are_hashed_usable_listed_and_revoked_at_once(
    client: GraphQLClient, settings: Settings
) -> None:
    env = {"CRM_DATABASE_URL": settings.database_url, "CRM_PLUGINS": ""}
    created = await _cli(env, "create", "--role", "sales", "--name", "rep", "--user", "alice")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("crm_") and " " not in secret

    me = await viewer(client, secret)
    assert me["data"]["viewer"] == {
        "id": me["data"]["viewer"]["id"],
        "name": "rep",
        "role": "sales",
        "userId": "alice",
    }
    assert me["data"]["viewer"]["id"].startswith("key:")

    async with client.app.state.crm.read() as session:
        stored = (await session.execute(text("SELECT * FROM auth_api_key"))).all()
    dump = repr(stored)
    assert secret not in dump and secret[4:] not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump

    listed = await _cli(env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["name"] == "rep" and row["lastUsedAt"] is not None and secret not in listed.stdout

    revoked = await _cli(env, "revoke", "rep")
    assert revoked.returncode == 0, revoked.stderr
    refused = await viewer(client, secret)
    assert refused["status"] == 401 and "revoked" in refused["errors"][0]["message"]


async def test_graphql_key_management_is_for_admins(client: GraphQLClient) -> None:
    made = await client.data(CREATE_KEY, {"input": {"name": "app", "role": "integration"}})
    payload = made["createApiKey"]
    assert payload["errors"] == [] and payload["apiKey"]["role"] == "integration"
    secret = payload["key"]
    assert payload["apiKey"]["prefix"] == secret[:10]
    assert (await viewer(client, secret))["data"]["viewer"]["name"] == "app"

    listed = await client.data("{ apiKeys { name lastUsedAt revokedAt } }")
    assert listed["apiKeys"][0]["name"] == "app" and listed["apiKeys"][0]["lastUsedAt"]

    bad = await client.data(
        CREATE_KEY,
        {"input": {"name": "app", "role": "wizard", "expiresAt": "2000-01-01T00:00:00Z"}},
    )
    assert {(e["code"], ".".join(e["field"])) for e in bad["createApiKey"]["errors"]} == {
        ("INVALID_VALUE", "input.role"),
        ("INVALID_VALUE", "input.expiresAt"),
    }

    taken = await client.data(CREATE_KEY, {"input": {"name": "app", "role": "sales"}})
    assert [e["code"] for e in taken["createApiKey"]["errors"]] == ["DUPLICATE"]
    replaced = await client.data(
        CREATE_KEY, {"input": {"name": "app", "role": "sales", "replace": True}}
    )
    assert replaced["createApiKey"]["errors"] == []
    assert (await viewer(client, secret))["status"] == 401  # replacing revoked the old key
    secret = replaced["createApiKey"]["key"]
    payload = replaced["createApiKey"]

    integration = client.acting_as("integration", "bot")
    denied = await integration.execute(CREATE_KEY, {"input": {"name": "x", "role": "admin"}})
    assert code(denied) == "FORBIDDEN"
    assert code(await integration.execute("{ apiKeys { name } }")) == "FORBIDDEN"

    revoke = "mutation ($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } } }"
    revoked = await client.data(revoke, {"id": payload["apiKey"]["id"]})
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"]
    assert (await viewer(client, secret))["status"] == 401


async def test_expired_keys_are_refused(client: GraphQLClient) -> None:
    made = await client.data(
        CREATE_KEY,
        {"input": {"name": "short", "role": "readonly", "expiresAt": "2999-01-01T00:00:00Z"}},
    )
    secret = made["createApiKey"]["key"]
    assert (await viewer(client, secret))["status"] == 200
    async with client.app.state.crm.write() as session:
        await session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    refused = await viewer(client, secret)
    assert refused["status"] == 401 and "expired" in refused["errors"][0]["message"]


def _hs256(claims: dict, secret: str, header: dict | None = None) -> str:
    def part(data: dict) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing_input = f"{part(header or {'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


async def test_tokens_are_checked_for_signature_expiry_issuer_audience_and_role(
    client: GraphQLClient,
) -> None:
    settings = client.app.state.crm.settings
    secret = settings.jwt_secret.get_secret_value()
    good = token_of(client, "marketing", "maria")
    me = await viewer(client, good)
    assert me["data"]["viewer"] == {
        "id": "user:maria",
        "name": "maria",
        "role": "marketing",
        "userId": "maria",
    }
    now = int(utcnow().timestamp())
    base = {"sub": "maria", "role": "marketing", "iss": "crm-graph", "aud": "crm-graph"}
    refused = {
        "expired": _hs256({**base, "exp": now - 3600}, secret),
        "wrong issuer": _hs256({**base, "iss": "evil", "exp": now + 60}, secret),
        "wrong audience": _hs256({**base, "aud": "other", "exp": now + 60}, secret),
        "no expiry": _hs256(base, secret),
        "no subject": _hs256({**base, "sub": None, "exp": now + 60}, secret),
        "forged": _hs256({**base, "exp": now + 60}, "x" * 40),
        "alg none": _hs256({**base, "exp": now + 60}, "", {"alg": "none", "typ": "JWT"})[:-1],
        "unknown role": _hs256({**base, "role": "root", "exp": now + 60}, secret),
    }
    for why, token in refused.items():
        answer = await viewer(client, token)
        assert answer["status"] == 401, why
        assert code(answer) == "UNAUTHENTICATED", why


async def test_rs256_tokens_verify_with_the_public_key_only(settings: Settings) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    rs256 = settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_public_key": public_pem, "jwt_secret": None}
    )
    async with app_client(rs256, plugins=[], role=None) as client:
        token = issue_token(rs256, "sam", "sales", signing_key=private_pem)
        assert (await viewer(client, token))["data"]["viewer"]["role"] == "sales"
        confused = _hs256(
            {"sub": "sam", "role": "admin", "iss": "crm-graph", "aud": "crm-graph", "exp": 2**31},
            public_pem,
        )
        assert (await viewer(client, confused))["status"] == 401
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(
            {"sub": "sam", "role": "admin", "iss": "crm-graph", "aud": "crm-graph", "exp": 2**31},
            other,
            algorithm="RS256",
        )
        assert (await viewer(client, forged))["status"] == 401


async def test_websockets_authenticate_in_connection_init(client: GraphQLClient) -> None:
    token = token_of(client, "readonly", "rita")
    assert await closed_code(client, {}) == 4403
    assert await closed_code(client, {"Authorization": "Bearer nonsense"}) == 4403
    assert await closed_code(client, {"Authorization": f"Bearer {token}"}) is None
    assert await closed_code(client, {"token": token}) is None

    async with socket(client, {"token": token}) as ws:
        assert json.loads(await ws.receive_text(timeout=5))["type"] == "connection_ack"
        await ws.send_text(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": VIEWER}})
        )
        answer = json.loads(await ws.receive_text(timeout=5))
    assert answer["payload"]["data"]["viewer"]["name"] == "rita"


@pytest.mark.parametrize("setting", [{"jwt_secret": SecretStr("short")}])
def test_a_short_jwt_secret_is_refused_at_startup(setting: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", **setting)


async def test_key_managers_cannot_mint_keys_wider_than_their_own(settings: Settings) -> None:
    roles = {"keymaster": ["keys:manage", "customers:read@team"], "lister": ["customers:read@own"]}
    async with app_client(settings.model_copy(update={"roles": roles}), plugins=[]) as admin:
        keymaster = admin.acting_as("keymaster", "kim")
        for role, allowed in [("admin", False), ("readonly", False), ("lister", True)]:
            made = await keymaster.data(CREATE_KEY, {"input": {"name": role, "role": role}})
            codes = [e["code"] for e in made["createApiKey"]["errors"]]
            assert codes == ([] if allowed else ["FORBIDDEN"]), role


async def test_a_socket_is_closed_once_its_key_is_revoked(client: GraphQLClient) -> None:
    made = await client.data(CREATE_KEY, {"input": {"name": "sock", "role": "readonly"}})
    secret, key_id = made["createApiKey"]["key"], made["createApiKey"]["apiKey"]["id"]
    async with socket(client, {"token": secret}) as ws:
        assert json.loads(await ws.receive_text(timeout=5))["type"] == "connection_ack"
        await client.data(
            "mutation ($id: ID!) { revokeApiKey(input: {id: $id}) { errors { code } } }",
            {"id": key_id},
        )
        await ws.send_text(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": VIEWER}})
        )
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text(timeout=5)
    assert closed.value.code == 4403
