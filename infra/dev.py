#!/usr/bin/env python3
"""CustomiseYou developer and CI commands.

    python3 infra/dev.py test [--no-lint] [CARGO TEST ARGS...]
        Every check CI runs, in order, stopping at the first failure:
        cargo fmt --check, cargo clippy -D warnings, cargo test (against a fresh DynamoDB
        emulator), the deployment rehearsal (cargo build of the function binaries, then
        tests/rehearsal/rehearse.py: each binary under a mock Lambda Runtime API with the
        template's environment, on the emulator), the size budget (a release build of every
        function: each zip at most 1.5x the DynamoDB-client baseline's, or its recorded ceiling;
        benches/coldstart/all_functions.py --check-sizes), the API fuzz (infra/api_fuzz.py:
        schemathesis from GET /openapi.json on the local runtime), cfn-lint and sam validate --lint.
        --no-lint runs cargo test only.
        Other arguments go to `cargo test`, e.g. `test -p cy-data -- --nocapture`.
    python3 infra/dev.py emulator [--port N]
        Start the emulator with the table created, print the environment to export, and keep
        running until Ctrl-C (for running `cargo test` by hand in another shell).
    python3 infra/dev.py lint-template
        cfn-lint and sam validate --lint on template.yaml.

This file needs only the standard library: it creates .venv (gitignored) and installs
infra/requirements-dev.txt into it (skipped while the requirements file is unchanged), then
re-runs itself with the venv's Python, where boto3 and PyYAML are available.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
REQUIREMENTS = ROOT / "infra" / "requirements-dev.txt"
STAMP = VENV / ".requirements-dev.stamp"
MOTO_SERVER = ROOT / "infra" / "moto_server.py"
TEMPLATE = ROOT / "template.yaml"
LOG_DIR = ROOT / "target" / "moto"

TABLE_NAME = "customiseyou-test"

# The binaries the deployment rehearsal runs (tests/rehearsal/rehearse.py): every function of
# template.yaml (its CodeUri, target/lambda/<crate>/, names the crate) and the operator's
# `customiseyou-admin`, which the rehearsal bootstraps the stage with. Debug builds: they share
# `cargo test`'s compiled dependencies. `quote@0.1.0`: a dependency is also named `quote`.
# The rehearsal fails if a function of the template is missing here.
REHEARSAL_BUILD = [
    "cargo", "build",
    "-p", "auth", "-p", "users", "-p", "products", "-p", "quote@0.1.0", "-p", "orders",
    "-p", "order-expiry", "-p", "outbox-relay", "-p", "payment-webhook", "-p", "websocket",
    "-p", "notify-fanout", "-p", "chat", "-p", "sellers", "-p", "payout-batch",
    "-p", "customiseyou-admin",
]
REHEARSAL = ROOT / "tests" / "rehearsal" / "rehearse.py"
SIZE_CHECK = ROOT / "benches" / "coldstart" / "all_functions.py"
REGION = "us-east-1"
IN_VENV_MARKER = "CY_DEV_IN_VENV"


def header(title: str) -> None:
    print(f"\n===== {title} =====", flush=True)


def note(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


# ------------------------------------------------------------------------------------------------
# The virtualenv (standard library only: runs under whatever python3 started us)
# ------------------------------------------------------------------------------------------------


def requirements_fingerprint() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def venv_works() -> bool:
    if not VENV_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(VENV_PYTHON), "-c", "import sys"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return probe.returncode == 0


def ensure_venv() -> None:
    fingerprint = requirements_fingerprint()
    if venv_works() and STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    header("Python tools (.venv)")
    started = time.monotonic()
    if not venv_works():
        if VENV.exists():
            note(f"{VENV} is broken; recreating it")
            shutil.rmtree(VENV)
        note(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    STAMP.unlink(missing_ok=True)
    note(f"installing {REQUIREMENTS.relative_to(ROOT)} (takes about a minute the first time)")
    subprocess.run(
        [
            str(VENV_PYTHON), "-m", "pip", "install",
            "--disable-pip-version-check", "--no-input", "--quiet",
            "-r", str(REQUIREMENTS),
        ],
        check=True,
    )
    STAMP.write_text(fingerprint + "\n")
    note(f"Python tools ready in {time.monotonic() - started:.0f}s")


def reexec_in_venv(argv: list[str]) -> None:
    """Run this script again with the venv's interpreter (boto3, PyYAML importable)."""
    ensure_venv()
    env = dict(os.environ)
    env[IN_VENV_MARKER] = "1"
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *argv], env)


# ------------------------------------------------------------------------------------------------
# The emulator (moto, through infra/moto_server.py)
# ------------------------------------------------------------------------------------------------


class Emulator:
    """moto on 127.0.0.1, started as its own process group and always stopped by stop()."""

    def __init__(self, port: int = 0, log_requests: bool = False) -> None:
        self.requested_port = port
        self.log_requests = log_requests
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        # Separate logs, so `emulator` and `test` can run side by side.
        self.log_path = LOG_DIR / ("emulator.log" if log_requests else "test.log")
        self._tmp = tempfile.TemporaryDirectory(prefix="cy-moto-")
        self.port_file = Path(self._tmp.name) / "port"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        header("Emulator (moto)")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [
                str(VENV_PYTHON), str(MOTO_SERVER),
                "--host", "127.0.0.1",
                "--port", str(self.requested_port),
                "--port-file", str(self.port_file),
                *([] if self.log_requests else ["--quiet"]),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            # Own process group: a Ctrl-C in the terminal reaches us, and we stop it in order.
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.dump_log()
                raise RuntimeError(f"moto exited early with code {self.proc.returncode}")
            if time.monotonic() > deadline:
                self.dump_log()
                raise RuntimeError(f"moto did not answer within {timeout:.0f}s")
            if not self.port and self.port_file.exists():
                text = self.port_file.read_text().strip()
                if text:
                    self.port = int(text)
            if self.port and self._answers():
                break
            time.sleep(0.2)
        note(f"moto pid {self.proc.pid} answering at {self.url} (log: {self.log_path})")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
            note(f"moto pid {proc.pid} stopped")
        self._tmp.cleanup()

    def dump_log(self, lines: int = 40) -> None:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return
        if tail:
            print(f"--- last {len(tail)} lines of {self.log_path} ---", flush=True)
            print("\n".join(tail), flush=True)


def load_template(path: Path = TEMPLATE) -> dict:
    """template.yaml (or `path`) with its short-form intrinsics (!Ref, !Sub, …) kept as data."""
    import yaml  # from the venv

    class CfnLoader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if suffix == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    CfnLoader.add_multi_constructor("!", intrinsic)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def table_properties() -> dict:
    resources = load_template().get("Resources", {})
    tables = {k: v for k, v in resources.items() if v.get("Type") == "AWS::DynamoDB::Table"}
    if not tables:
        raise RuntimeError("template.yaml has no AWS::DynamoDB::Table")
    logical_id = "Table" if "Table" in tables else sorted(tables)[0]
    if len(tables) > 1:
        note(f"several tables in template.yaml; creating only {logical_id!r}")
    return tables[logical_id].get("Properties", {})


def create_table(endpoint: str, table_name: str = TABLE_NAME, props: dict | None = None) -> None:
    """Create `table_name` in the emulator at `endpoint` from template.yaml's table (keys, GSIs,
    billing mode, stream, TTL), or from the table properties `props`.
    tests/rehearsal/rehearse.py creates its own table with it."""
    import boto3  # from the venv

    props = props if props is not None else table_properties()
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    request: dict = {
        "TableName": table_name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    index_keys = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput"}
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(kind):
            request[kind] = [{k: v for k, v in ix.items() if k in index_keys} for ix in props[kind]]
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    client.create_table(**request)
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    indexes = ", ".join(ix["IndexName"] for ix in request.get("GlobalSecondaryIndexes", []))
    note(f"table {table_name} created from template.yaml (GSIs: {indexes or 'none'})")


def emulator_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "CY_DYNAMODB_ENDPOINT": endpoint,
        "CY_AWS_ENDPOINT": endpoint,
        "CY_TABLE_NAME": TABLE_NAME,
        "CY_REQUIRE_EMULATOR": "1",
    }


def step_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(IN_VENV_MARKER, None)
    # A developer's own AWS profile or session must not leak into tests against the emulator.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        env.pop(name, None)
    env["SAM_CLI_TELEMETRY"] = "0"
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------------
# Steps
# ------------------------------------------------------------------------------------------------


TEST_RESULT = re.compile(
    rb"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored"
)
ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def run_step(cmd: list[str], env: dict[str, str], counts: list[int]) -> int:
    """Run one command, streaming its output, and add up cargo's "test result:" lines."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = sys.stdout.buffer
    try:
        for line in proc.stdout:
            out.write(line)
            out.flush()
            match = TEST_RESULT.match(ANSI.sub(b"", line))
            if match:
                for i in range(3):
                    counts[i] += int(match.group(i + 1))
        return proc.wait()
    except BaseException:
        # Ctrl-C or SIGTERM: do not leave the step running behind us.
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def run_steps(
    steps: list[tuple[str, list[str]]], env: dict[str, str], counts: list[int] | None = None
) -> int:
    """Run steps in order up to the first failure; return its exit code (0: all passed).

    `counts` (passed, failed, ignored) is added up from cargo's `test result:` lines."""
    results: list[tuple[str, int, float]] = []
    counts = counts if counts is not None else [0, 0, 0]
    failed = 0
    for title, cmd in steps:
        header(title)
        print("$ " + " ".join(cmd), flush=True)
        started = time.monotonic()
        code = run_step(cmd, env, counts)
        results.append((title, code, time.monotonic() - started))
        if code != 0:
            failed = code
            break
    header("Summary")
    for title, code, seconds in results:
        print(f"  {'ok  ' if code == 0 else 'FAIL'}  {title}  ({seconds:.0f}s)", flush=True)
    for title, _ in steps[len(results):]:
        print(f"  skip  {title}", flush=True)
    return failed


def lint_template_steps() -> list[tuple[str, list[str]]]:
    return [
        ("cfn-lint", [str(VENV_BIN / "cfn-lint"), "template.yaml"]),
        (
            "sam validate",
            [str(VENV_BIN / "sam"), "validate", "--lint", "--template", "template.yaml",
             "--region", REGION],
        ),
    ]


def cargo_test_command(extra: list[str]) -> list[str]:
    # `--workspace` together with `-p` would test everything; let -p choose when given.
    own_args = extra[: extra.index("--")] if "--" in extra else extra
    picks_packages = any(
        a in ("-p", "--package") or a.startswith(("--package=", "-p")) for a in own_args
    )
    cmd = ["cargo", "test"]
    if not picks_packages:
        cmd.append("--workspace")
    return cmd + ["--all-targets", *extra]


def cmd_test(args: list[str]) -> int:
    lint = True
    cargo_args: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            cargo_args.extend(args[i:])
            break
        if arg == "--no-lint":
            lint = False
        else:
            cargo_args.append(arg)

    steps: list[tuple[str, list[str]]] = []
    if lint:
        steps += [
            ("cargo fmt", ["cargo", "fmt", "--all", "--", "--check"]),
            (
                "cargo clippy",
                ["cargo", "clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
            ),
        ]
    steps.append(("cargo test", cargo_test_command(cargo_args)))
    if lint:
        # The binaries as deployed: the template's environment, a mock Runtime API, the emulator.
        steps.append(("cargo build (function binaries)", REHEARSAL_BUILD))
        steps.append(("deployment rehearsal", [sys.executable, str(REHEARSAL)]))
        # Every function's zip against the size budget (docs/PERFORMANCE.md): a release build
        # of every function and the two baselines, the way Lambda runs them.
        steps.append(("size budget (release build)", [sys.executable, str(SIZE_CHECK), "--check-sizes"]))
        # Bad input never a 5xx, every answer as the OpenAPI document declares it.
        steps.append(("api fuzz (schemathesis)", [sys.executable, str(ROOT / "infra" / "api_fuzz.py")]))
        steps += lint_template_steps()

    emulator = Emulator()
    code = 1
    counts = [0, 0, 0]
    try:
        emulator.start()
        create_table(emulator.url)
        env = step_env(emulator_env(emulator.url))
        code = run_steps(steps, env, counts)
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        code = 130
    except Exception as error:  # setup failed: say what, keep the exit code non-zero
        print(f"dev.py: error: {error}", file=sys.stderr, flush=True)
        code = 1
    finally:
        if code != 0 and emulator.proc is not None:
            emulator.dump_log()
        emulator.stop()
    print(f"\n{'PASSED' if code == 0 else 'FAILED'}", flush=True)
    # Last line: the total over every test binary, in the plain "N passed, N failed" form.
    print(f"tests: {counts[0]} passed, {counts[1]} failed, {counts[2]} skipped", flush=True)
    return code


def cmd_emulator(args: list[str]) -> int:
    port = 0
    if args[:1] == ["--port"] and len(args) == 2:
        port = int(args[1])
    elif args:
        print("usage: python3 infra/dev.py emulator [--port N]", file=sys.stderr)
        return 2
    emulator = Emulator(port, log_requests=True)
    try:
        emulator.start()
        create_table(emulator.url)
        header("Environment")
        print("Run this in the shell where you run cargo:\n")
        for name, value in emulator_env(emulator.url).items():
            print(f"export {name}={value}")
        print(
            "\nReset all emulator data: curl -X POST "
            f"{emulator.url}/moto-api/reset (the table is gone afterwards; restart this).",
            flush=True,
        )
        print("Ctrl-C stops the emulator.", flush=True)
        assert emulator.proc is not None
        code = emulator.proc.wait()
        note(f"moto exited with code {code}")
        emulator.dump_log()
        return 1
    except KeyboardInterrupt:
        print("", flush=True)
        return 0
    except Exception as error:
        print(f"dev.py: error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        emulator.stop()


def cmd_lint_template(args: list[str]) -> int:
    if args:
        print("usage: python3 infra/dev.py lint-template", file=sys.stderr)
        return 2
    return run_steps(lint_template_steps(), step_env({}))


COMMANDS = {"test": cmd_test, "emulator": cmd_emulator, "lint-template": cmd_lint_template}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get(IN_VENV_MARKER) != "1":
        try:
            reexec_in_venv(argv)  # does not return
        except subprocess.CalledProcessError as error:
            print(f"dev.py: setting up .venv failed: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130

    # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so the emulator is always stopped.
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Also when started with SIGINT ignored (e.g. as a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
