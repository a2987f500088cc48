"""Bearer tokens and namespace scopes: 401 and 403 change nothing; no token off loopback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pykatib_server import BASE, free_port, self_signed, start_server
from test_api import experiment, is_status


def test_tokens_and_scopes(tmp_path: Path, sqlite_url: str) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# who may do what\nadmin-secret\nteam-secret kubeflow,team-b\n")
    # kubectl sends a bearer token only over HTTPS.
    tls = self_signed(tmp_path)
    server = start_server(tmp_path, sqlite_url, token="team-secret", token_file=tokens, tls=tls)
    try:
        kubeflow = f"{BASE}/namespaces/kubeflow/experiments"
        default = f"{BASE}/namespaces/default/experiments"
        exp = experiment("mine")
        exp["metadata"]["namespace"] = "kubeflow"
        with server.client(token="") as anonymous, server.client("wrong") as wrong:
            assert anonymous.get("/version").status_code == 200
            is_status(anonymous.get(kubeflow), 401, "Unauthorized")
            is_status(anonymous.post(kubeflow, json=exp), 401, "Unauthorized")
            is_status(wrong.post(kubeflow, json=exp), 401, "Unauthorized")
            is_status(wrong.get("/apis"), 401, "Unauthorized")
        with server.client("team-secret") as team, server.client("admin-secret") as admin:
            assert admin.get(kubeflow).json()["items"] == []  # the refused writes wrote nothing
            is_status(team.post(default, json=experiment("theirs")), 403, "Forbidden")
            is_status(team.get(f"{BASE}/experiments"), 403, "Forbidden")
            is_status(team.get("/api/v1/namespaces/default/events"), 403, "Forbidden")
            assert admin.get(default).json()["items"] == []
            assert team.post(kubeflow, json=exp).status_code == 201
            assert admin.get(f"{BASE}/experiments").status_code == 200
        if shutil.which("kubectl"):
            listed = server.kubectl("get", "experiments", "-n", "kubeflow")
            assert listed.stdout.split()[4] == "mine"
            refused = server.kubectl("get", "experiments", "-n", "default", check=False)
            assert refused.returncode == 1 and "Forbidden" in refused.stderr
    finally:
        server.stop()


def _server_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pykatib.cli.main", "server", "--port", str(free_port()), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_token_off_loopback() -> None:
    refused = _server_command("--host", "0.0.0.0")
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in refused.stderr
    assert "--token-file" in refused.stderr


def test_malformed_token_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("a b c\n")
    refused = _server_command("--token-file", str(tokens))
    assert refused.returncode == 2 and "line 1" in refused.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n# nothing\n")
    refused = _server_command("--token-file", str(empty))
    assert refused.returncode == 2 and "holds no token" in refused.stderr
