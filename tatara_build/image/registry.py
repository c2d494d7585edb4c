"""Push and pull OCI layouts through skopeo.

Why skopeo (Debian `skopeo`): a maintained client of the containers/image library that
speaks the registry protocol, OCI layouts, auth files and TLS (system trust store,
`--cert-dir`) the way podman and CRI-O do, and verifies every blob's digest while it
copies. `--all` keeps an index of several images whole; `--preserve-digests` refuses any
change of a digest on the way.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tatara_build.backends.proc import run
from tatara_build.errors import EnvironmentProblem, RuntimeFailure, SpecError

# skopeo's messages -> what the user should read (first match wins)
_ERRORS = [
    (r"connection refused|no such host|i/o timeout|network is unreachable|dial tcp",
     EnvironmentProblem, "registry unreachable"),
    (r"x509|certificate|tls: ", EnvironmentProblem,
     "TLS verification failed (trust the registry's CA, or pass --cert-dir)"),
    (r"[Dd]igest did not match|digest mismatch|computed digest|does not match",
     RuntimeFailure, "a digest did not match: the registry holds other bytes than the image "
                     "names; nothing was applied"),
    (r"manifest unknown|not found|name unknown|404", SpecError,
     "no such image in the registry (check the tag or @sha256 digest)"),
    (r"unauthorized|authentication required|denied", EnvironmentProblem,
     "the registry refused access (log in with skopeo login, or use --authfile)"),
]


def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        raise EnvironmentProblem("image push/pull need skopeo (Debian: apt-get install skopeo)")
    return path


def docker_ref(ref: str) -> str:
    """`host:port/repo:tag` or `docker://...` -> skopeo's transport form."""
    return ref if ref.startswith("docker://") else f"docker://{ref}"


def _tls(prefix: str, insecure: bool, cert_dir: Path | None) -> list[str]:
    out = [f"--{prefix}-tls-verify=false"] if insecure else []
    return out + ([f"--{prefix}-cert-dir", str(cert_dir)] if cert_dir else [])


def _fail(what: str, ref: str, stderr: str):
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "skopeo failed"
    msg = re.search(r'msg="(.*)"', text)
    text = msg.group(1).replace('\\"', '"') if msg else text
    for pattern, cls, meaning in _ERRORS:
        if re.search(pattern, stderr):
            return cls(f"{what} {ref}: {meaning}\n  skopeo: {text}")
    return RuntimeFailure(f"{what} {ref}: {text}")


def push(layout: Path, tag: str, ref: str, insecure: bool = False,
         cert_dir: Path | None = None) -> None:
    argv = [skopeo(), "copy", "--all", "--preserve-digests", "--retry-times", "0",
            *_tls("dest", insecure, cert_dir), f"oci:{layout}:{tag}", docker_ref(ref)]
    res = run(argv)
    if not res.ok:
        raise _fail("push to", ref, res.stderr)


def pull(ref: str, layout: Path, tag: str, insecure: bool = False,
         cert_dir: Path | None = None) -> None:
    argv = [skopeo(), "copy", "--all", "--preserve-digests", "--retry-times", "0",
            *_tls("src", insecure, cert_dir), docker_ref(ref), f"oci:{layout}:{tag}"]
    res = run(argv)
    if not res.ok:
        raise _fail("pull of", ref, res.stderr)


def copy_layout(src: Path, tag: str, dest: Path) -> None:
    """Layout to layout (the benchmark's yardstick for writing the same blobs)."""
    res = run([skopeo(), "copy", "--all", "--preserve-digests", f"oci:{src}:{tag}",
               f"oci:{dest}:{tag}"])
    if not res.ok:
        raise RuntimeFailure(f"skopeo copy {src} -> {dest}: {res.stderr.strip()}")
