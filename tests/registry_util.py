"""A real registry for the image tests: Debian's `docker-registry` (distribution) on
127.0.0.1 at a free port, TLS with a self-signed certificate (subjectAltName IP:127.0.0.1;
bpfman pulls over HTTPS only), storage in a temp folder; stopped and removed after.

Trust without touching the system store: SSL_CERT_FILE names a bundle of the system CAs
plus this certificate; skopeo (Go) and bpfman (OpenSSL) both read it.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = root / "storage"
        self.cert, self.key, self.bundle = root / "cert.pem", root / "key.pem", root / "bundle.pem"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", str(self.key), "-out", str(self.cert), "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        system = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.exists() else b""
        self.bundle.write_bytes(system + b"\n" + self.cert.read_bytes())
        config = self.root / "config.yml"
        config.write_text(f"""version: 0.1
log: {{level: error}}
storage:
  filesystem: {{rootdirectory: {self.storage}}}
  delete: {{enabled: true}}
http:
  addr: {self.host}
  tls: {{certificate: {self.cert}, key: {self.key}}}
""")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ctx = ssl.create_default_context(cafile=str(self.cert))
        for _ in range(100):
            try:
                urllib.request.urlopen(f"https://{self.host}/v2/", context=ctx, timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("docker-registry exited: " + self.proc.stderr.read().decode()) from None
                time.sleep(0.1)
        raise RuntimeError("docker-registry did not answer on " + self.host)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def blob_path(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def registry_skip_reason() -> str | None:
    for tool in ("docker-registry", "skopeo", "openssl"):
        if not shutil.which(tool):
            return f"{tool} not installed (scripts/setup-bpfman.sh installs it)"
    return None


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    why = registry_skip_reason()
    if why:
        pytest.skip(why)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    old = os.environ.get("SSL_CERT_FILE")
    try:
        reg.start()
        os.environ["SSL_CERT_FILE"] = str(reg.bundle)
        yield reg
    finally:
        reg.stop()
        if old is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = old
