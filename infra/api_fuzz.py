#!/usr/bin/env python3
"""Fuzz the API from its own OpenAPI document (schemathesis), on the local runtime.

    python3 infra/api_fuzz.py [--max-examples N] [--seed N]

Starts `customiseyou-local` on a free loopback port with a fresh data dir (demo data on),
signs in as the demo customer, the demo seller and the admin, and for each runs schemathesis
against `GET /openapi.json` with the checks that must always hold:

- not_a_server_error: bad input is a 4xx in the contract's shape, never a 5xx;
- status_code_conformance, content_type_conformance, response_schema_conformance: every answer
  is one the document declares, in the shape it declares.

Exits non-zero if any check fails, and always stops the runtime. Part of `infra/dev.py test`
(so of CI). schemathesis lives in its own venv (.venv-fuzz, gitignored): its dependencies and
aws-sam-cli's pins do not resolve together.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-fuzz"
VENV_BIN = VENV / "bin"
REQUIREMENTS = ROOT / "infra" / "requirements-fuzz.txt"
STAMP = VENV / ".requirements.stamp"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ADMIN_EMAIL = "admin@fuzz.customiseyou.local"
ADMIN_PASSWORD = "fuzz-admin-password-not-a-secret"
ACCOUNTS = [
    ("customer", "customer@demo.customiseyou.local", "demo-customer-pass"),
    ("seller", "seller@demo.customiseyou.local", "demo-seller-pass"),
    ("admin", ADMIN_EMAIL, ADMIN_PASSWORD),
]


def note(message: str) -> None:
    print(f"api_fuzz.py: {message}", flush=True)


def ensure_venv() -> None:
    fingerprint = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if (VENV_BIN / "schemathesis").exists() and STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    if VENV.exists():
        shutil.rmtree(VENV)
    note(f"installing {REQUIREMENTS.relative_to(ROOT)} into {VENV.name}")
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV_BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check",
         "--no-input", "--quiet", "-r", str(REQUIREMENTS)],
        check=True,
    )
    STAMP.write_text(fingerprint + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def start_runtime(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, ADMIN_EMAIL=ADMIN_EMAIL, ADMIN_PASSWORD=ADMIN_PASSWORD)
    proc = subprocess.Popen(
        ["cargo", "run", "--quiet", "-p", "customiseyou-local", "--",
         "--port", str(port), "--data-dir", data_dir],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=open(Path(data_dir) / "runtime.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600  # the first `cargo run` may build the binary
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"customiseyou-local exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError("customiseyou-local did not answer /health")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args()
    ensure_venv()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(prefix="cy-fuzz-")
    proc = None
    failed = 0
    try:
        try:
            proc = start_runtime(port, data_dir)
        except RuntimeError as error:
            note(f"the runtime did not start: {error}")
            failed = 1
            raise
        note(f"customiseyou-local answering at {base} (data: {data_dir})")
        for role, email, password in ACCOUNTS:
            token = request(f"{base}/auth/login", {"email": email, "password": password})["access_token"]
            note(f"as the {role}")
            code = subprocess.run(
                [str(VENV_BIN / "schemathesis"), "run", f"{base}/openapi.json",
                 "-H", f"Authorization: Bearer {token}", "--checks", CHECKS,
                 "--phases", "examples,fuzzing", "--max-examples", str(args.max_examples),
                 "--seed", str(args.seed), "--no-color"],
                cwd=data_dir, stdin=subprocess.DEVNULL,
            ).returncode
            failed = failed or code
    finally:
        if proc is not None:
            stop(proc)
        if failed:
            log = Path(data_dir) / "runtime.log"
            if log.exists():
                print("--- last lines of the runtime's log ---")
                print("\n".join(log.read_text(errors="replace").splitlines()[-30:]))
        shutil.rmtree(data_dir, ignore_errors=True)
    note("every check held for every account" if not failed else "a check failed (above)")
    return failed


if __name__ == "__main__":
    sys.exit(main())
