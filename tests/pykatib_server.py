"""A real ``pykatib server`` for tests (a subprocess on a free port of 127.0.0.1), a kubeconfig
of the test's own pointing at it, kubectl, and raw HTTP with httpx: shared by ``tests/server``
and ``tests/katib_sdk``."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

BASE = "/apis/kubeflow.org/v1beta1"
STARTUP_SECONDS = 90  # a bound, not a wait: a loaded 2-core machine can take long


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``pykatib server`` and the clients that talk to it."""

    url: str
    db: str
    home: Path
    proc: subprocess.Popen[str]
    kubeconfig: Path
    token: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ca: Path | None = None  # the certificate to trust, when it serves HTTPS

    def client(self, token: str | None = None) -> httpx.Client:
        token = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: Any = ssl.create_default_context(cafile=str(self.ca)) if self.ca else True
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=verify)

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", *args],
            check=False,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def kubectl_popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["kubectl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def pykatib(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI, as another process on the same database."""
        return subprocess.run(
            [sys.executable, "-m", "pykatib.cli.main", "--db", self.db, *args],
            check=False,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl), for HTTPS."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def write_kubeconfig(path: Path, url: str, token: str | None, ca: Path | None = None) -> None:
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": url}
    if ca is not None:
        cluster["certificate-authority"] = str(ca)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "pykatib", "cluster": cluster}],
                "users": [{"name": "me", "user": user}],
                "contexts": [
                    {
                        "name": "pykatib",
                        "context": {"cluster": "pykatib", "user": "me", "namespace": "default"},
                    }
                ],
                "current-context": "pykatib",
            }
        )
    )


def start_server(
    tmp_path: Path,
    db: str,
    *,
    token: str | None = None,
    token_file: Path | None = None,
    tls: tuple[Path, Path] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Server:
    """Start ``pykatib server`` (with ``extra_args``) and wait until it answers (polling
    /version, no fixed sleep)."""
    port = free_port()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    home = Path(os.environ["PYKATIB_HOME"])
    kubeconfig = tmp_path / f"kubeconfig-{port}"
    write_kubeconfig(kubeconfig, url, token, tls[0] if tls else None)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYKATIB_HOME": str(home)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    command = [sys.executable, "-m", "pykatib.cli.main", "--db", db, "server", "--port", str(port)]
    if token_file is not None:
        command += ["--token-file", str(token_file)]
    if tls is not None:
        command += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    command += list(extra_args)
    log = (tmp_path / f"server-{port}.log").open("w")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    server = Server(url, db, home, proc, kubeconfig, token, env, tls[0] if tls else None)
    deadline = time.monotonic() + STARTUP_SECONDS
    with server.client() as client:
        while True:
            assert proc.poll() is None, (tmp_path / f"server-{port}.log").read_text()
            try:
                if client.get("/version").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                proc.kill()  # not left running after the failed test
                proc.wait()
                raise AssertionError(f"the server did not answer /version in {STARTUP_SECONDS} s")
            time.sleep(0.05)
