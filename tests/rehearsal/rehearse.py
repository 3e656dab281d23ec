#!/usr/bin/env python3
"""The deployment rehearsal: every function's binary, run as Lambda runs it, with the environment
template.yaml gives it, against the AWS emulator (moto), driven through one real flow.

    python3 tests/rehearsal/rehearse.py [--bin-dir target/debug] [--template template.yaml]

(`python3 infra/dev.py test` builds the binaries and runs this after `cargo test`.)

What "as deployed" means here:

- Environment. Each function's variables are template.yaml's Globals.Function.Environment merged
  with its own, with every intrinsic resolved: parameters (defaults, and TEST_PARAMETERS for those
  without one or where the rehearsal needs another value), pseudo parameters, conditions (!If),
  !Sub, !Ref/!GetAtt of resources (made in the emulator: the table, the bucket, the topic, the
  queues and the subscription, from their template properties), and `{{resolve:secretsmanager:…}}`
  references (TEST_SECRETS, as CloudFormation would resolve them at deploy time). A value that
  cannot be resolved fails the rehearsal. The process gets nothing else of ours but what Lambda
  itself sets (AWS_LAMBDA_*, AWS_REGION, credentials, …) and `CY_AWS_ENDPOINT`, the one override
  the code has for reaching an emulator instead of AWS. So a variable the code needs and the
  template does not set fails here, as it would on the first deploy.
- The WebSocket management endpoint (WEBSOCKET_ENDPOINT, `https://{api}.execute-api.{region}.
  amazonaws.com/{stage}` in the template) is the one template value replaced: moto has no such
  API, so it points at a small mock of it on loopback, which records the frames pushed.
- Invocation. Each binary runs under a mock of the Lambda Runtime API (one process per function,
  kept for all its events, like a warm instance), within its template Timeout (times
  TIMEOUT_FACTOR: these are unoptimised debug builds). HTTP functions get API Gateway REST proxy
  events, routed as API Gateway would: to the function whose template `Api` events declare the
  method and path, with the stage in `requestContext.path` only. The WebSocket, SQS, stream and
  schedule functions get their own event shapes, read from the emulator where the template says
  they come from (the table's stream with the template's filter, the queue the topic feeds).
- Permissions. Every AWS call a function makes passes through a recording front to moto; at the
  end each call is checked against that function's inline policies in the template (actions and
  resources, resolved). A call the role would not allow fails the rehearsal.

Prints a line per function (events, result) and exits non-zero on the first failure, with the
function's output tail. Logs: target/rehearsal/<function>.log.

The emulator: the one `CY_AWS_ENDPOINT` names (as `dev.py test` sets it), else one started here
through infra/moto_server.py. A fresh table, topic, queues and bucket are made for each run, so
other tests' data never mixes in.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import fnmatch
import hashlib
import hmac
import http.client
import http.server
import json
import os
import queue
import re
import secrets
import signal
import socketserver
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))
sys.dont_write_bytecode = True  # no __pycache__ left in infra/ by the import below

import dev  # noqa: E402  (infra/dev.py: the template loader, the table, the emulator)

REGION = dev.REGION
ACCOUNT = "123456789012"
STACK = "customiseyou-rehearsal"
LOG_DIR = ROOT / "target" / "rehearsal"

# Parameters without a default, and those the rehearsal needs set otherwise. Each is checked
# against the parameter's own constraints, as CloudFormation would.
PAYMENT_SECRETS_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:customiseyou/payments-rehearsal"
TEST_PARAMETERS = {
    "JwtSecret": "rehearsal-jwt-secret-0123456789abcdef",
    "QuoteSecret": "rehearsal-quote-secret-0123456789abcdef",
    "DataKey": base64.b64encode(hashlib.sha256(b"rehearsal data key").digest()).decode(),
    # No real payment provider: the stage's simulator (README, "Building and deploying").
    "PaymentSimulatorSecret": "rehearsal-payment-simulator-secret-0123",
    "PaymentSecretsArn": PAYMENT_SECRETS_ARN,
    # Delivered parts complete at the next expiry sweep, so the flow reaches a seller's balance.
    "ReturnWindowSecs": "0",
}
STRIPE_WEBHOOK_SECRET = "whsec_rehearsal_0123456789abcdef0123456789"
# The Secrets Manager secrets the template's dynamic references name (README: payments.json).
TEST_SECRETS = {
    PAYMENT_SECRETS_ARN: {
        "STRIPE_SECRET_KEY": "-",
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "RAZORPAY_KEY_ID": "-",
        "RAZORPAY_KEY_SECRET": "-",
        # Set, so every webhook route verifies (an unset one answers 503 until configured).
        "RAZORPAY_WEBHOOK_SECRET": "rehearsal_razorpay_webhook_secret",
        "PAYPAL_CLIENT_ID": "-",
        "PAYPAL_CLIENT_SECRET": "-",
        "PAYPAL_WEBHOOK_ID": "WH-REHEARSAL",
    },
}
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::StackName": STACK,
    "AWS::URLSuffix": "amazonaws.com",
}
# Debug builds are slower than the release arm64 ones the template's Timeout values are for.
TIMEOUT_FACTOR = 3
ADMIN_EMAIL = "ops@rehearsal.customiseyou.example"
ADMIN_PASSWORD = "rehearsal-admin-password"
PASSWORD = "rehearsal-password"
# The router's own answers when no route matches (shared/http/src/app.rs).
NO_ROUTE = "There is nothing at this path."
NO_METHOD = "This path does not accept that method."
# Access key ids of the calls that are not a function's: the harness's own, the operator's.
HARNESS_KEY = "rehearsal-harness"
OPERATOR_KEY = "AKIAREHEARSALOPERATOR"


class Failure(Exception):
    """The rehearsal failed: the message says what, where and with what evidence."""


def log(message: str) -> None:
    print(f"rehearse: {message}", flush=True)


# ------------------------------------------------------------------------------------------------
# The template, deployed onto the emulator
# ------------------------------------------------------------------------------------------------


class NoValue:
    """AWS::NoValue: the property (here, the variable) is left out."""


class Stack:
    """template.yaml resolved with test parameters, its resources made in the emulator.

    Resources are made on first reference (a queue's dead-letter queue before the queue);
    `provision()` makes the ones the flow needs up front. `ref()` and `get_att()` answer what
    CloudFormation would: names, URLs and ARNs of the emulator's resources."""

    def __init__(self, template: dict, endpoint: str) -> None:
        self.template = template
        self.resources: dict[str, dict] = template.get("Resources", {})
        self.endpoint = endpoint
        self.suffix = secrets.token_hex(3)
        self.parameters = self._parameters()
        self._conditions: dict[str, bool] = {}
        self.physical: dict[str, dict[str, str]] = {}
        self.ses_identities: list[str] = []

    def client(self, service: str) -> Any:
        """A boto3 client of the emulator, for the harness's own calls (not any function's)."""
        import boto3  # from the venv

        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=HARNESS_KEY, aws_secret_access_key="test",
        )

    # -- parameters and conditions ---------------------------------------------------------------

    def _parameters(self) -> dict[str, str]:
        """Every parameter's value: the test value, else the default; each checked against the
        parameter's constraints."""
        values: dict[str, str] = {}
        for name, spec in self.template.get("Parameters", {}).items():
            if name in TEST_PARAMETERS:
                value = TEST_PARAMETERS[name]
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise Failure(f"parameter {name} has no default and no test value (TEST_PARAMETERS)")
            problem = parameter_problem(spec, value)
            if problem:
                raise Failure(f"test value of parameter {name} would be refused: {problem}")
            values[name] = value
        unknown = set(TEST_PARAMETERS) - set(values)
        if unknown:
            raise Failure(f"TEST_PARAMETERS names parameters the template lacks: {sorted(unknown)}")
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise Failure(f"condition {name} is not in the template")
            self._conditions[name] = self.truth(spec, f"Conditions.{name}")
        return self._conditions[name]

    def truth(self, value: Any, where: str) -> bool:
        """A condition function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition)."""
        if isinstance(value, dict) and len(value) == 1:
            (fn, args), = value.items()
            if fn == "Condition":
                return self.condition(args)
            if fn == "Fn::Equals":
                return self.resolve(args[0], where) == self.resolve(args[1], where)
            if fn == "Fn::Not":
                return not self.truth(args[0], where)
            if fn == "Fn::And":
                return all(self.truth(a, where) for a in args)
            if fn == "Fn::Or":
                return any(self.truth(a, where) for a in args)
        raise Failure(f"{where}: cannot evaluate condition {value!r}")

    # -- intrinsic functions ---------------------------------------------------------------------

    def resolve(self, value: Any, where: str) -> Any:
        """The value with every intrinsic function and dynamic reference resolved."""
        if isinstance(value, str):
            return self.dynamic_references(value, where)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, list):
            items = [self.resolve(v, where) for v in value]
            return [v for v in items if v is not NoValue]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, args), = value.items()
            if fn == "Ref":
                return self.ref(args, where)
            if fn == "Fn::GetAtt":
                logical, attribute = args if isinstance(args, list) else args.split(".", 1)
                return self.get_att(logical, attribute, where)
            if fn == "Fn::Sub":
                return self.sub(args, where)
            if fn == "Fn::If":
                name, when_true, when_false = args
                return self.resolve(when_true if self.condition(name) else when_false, where)
            if fn == "Fn::Join":
                separator, parts = args
                return separator.join(self.resolve(parts, where))
            if fn.startswith("Fn::") or fn == "Condition":
                raise Failure(f"{where}: the rehearsal does not resolve {fn}")
        resolved = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NoValue}

    def ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return NoValue
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.make(name)["Ref"]
        raise Failure(f"{where}: !Ref {name} names no parameter or resource")

    def get_att(self, logical: str, attribute: str, where: str) -> str:
        if logical not in self.resources:
            raise Failure(f"{where}: !GetAtt {logical}.{attribute} names no resource")
        made = self.make(logical)
        if attribute not in made:
            kind = self.resources[logical]["Type"]
            raise Failure(f"{where}: the rehearsal knows no attribute {attribute} of {logical} ({kind})")
        return made[attribute]

    def sub(self, args: Any, where: str) -> str:
        """Fn::Sub: `${Name}`, `${Resource.Attribute}`, `${!Literal}`, and its own variables."""
        text, variables = (args, {}) if isinstance(args, str) else (args[0], args[1])

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name], where))
            if "." in name and name.split(".", 1)[0] in self.resources:
                return self.get_att(*name.split(".", 1), where)
            return str(self.ref(name, where))

        return self.dynamic_references(re.sub(r"\$\{([^}]+)\}", replace, text), where)

    def dynamic_references(self, text: str, where: str) -> str:
        """`{{resolve:secretsmanager:<secret>:SecretString:<key>}}`, from TEST_SECRETS."""

        def replace(match: re.Match) -> str:
            service, reference = match.group(1), match.group(2)
            if service != "secretsmanager" or ":SecretString:" not in reference:
                raise Failure(f"{where}: the rehearsal does not resolve {{{{resolve:{service}:…}}}}")
            secret_id, rest = reference.split(":SecretString:", 1)
            key = rest.split(":", 1)[0]
            if secret_id not in TEST_SECRETS:
                raise Failure(f"{where}: no test secret {secret_id} (TEST_SECRETS)")
            if key not in TEST_SECRETS[secret_id]:
                raise Failure(f"{where}: the test secret {secret_id} has no key {key}")
            return TEST_SECRETS[secret_id][key]

        return re.sub(r"\{\{resolve:([a-z-]+):(.+?)\}\}", replace, text)

    # -- resources in the emulator ---------------------------------------------------------------

    def name_for(self, logical: str) -> str:
        return f"{STACK}-{logical}-{self.suffix}"

    def provision(self) -> None:
        """Make every resource of the kinds the flow goes through, plus the prerequisites the
        README asks of an operator: the verified SES identity."""
        kinds = {"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SNS::Topic", "AWS::SQS::Queue",
                 "AWS::SNS::Subscription"}
        for logical, resource in self.resources.items():
            if resource.get("Type") in kinds:
                self.make(logical)
        if "SesIdentity" in self.parameters:
            identity = self.parameters["SesIdentity"]
            self.client("sesv2").create_email_identity(EmailIdentity=identity)
            self.ses_identities.append(identity)

    def make(self, logical: str) -> dict[str, str]:
        """The resource's Ref and attributes, making it in the emulator the first time."""
        if logical in self.physical:
            return self.physical[logical]
        resource = self.resources[logical]
        kind = resource.get("Type")
        props = resource.get("Properties", {})
        where = f"Resources.{logical}"
        name = self.name_for(logical)
        if kind == "AWS::DynamoDB::Table":
            dev.create_table(self.endpoint, name, props=self.resolve(props, where))
            table = self.client("dynamodb").describe_table(TableName=name)["Table"]
            made = {"Ref": name, "Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}
        elif kind == "AWS::S3::Bucket":
            bucket = name.lower()
            self.client("s3").create_bucket(Bucket=bucket)
            made = {"Ref": bucket, "Arn": f"arn:aws:s3:::{bucket}"}
        elif kind == "AWS::SNS::Topic":
            arn = self.client("sns").create_topic(Name=name)["TopicArn"]
            made = {"Ref": arn, "TopicArn": arn, "TopicName": name}
        elif kind == "AWS::SQS::Queue":
            attributes = {}
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
                if key in props:
                    attributes[key] = str(self.resolve(props[key], f"{where}.{key}"))
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(self.resolve(props["RedrivePolicy"], where))
            sqs = self.client("sqs")
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            made = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        elif kind == "AWS::SNS::Subscription":
            attributes = {}
            if props.get("RawMessageDelivery") is not None:
                attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
            if "FilterPolicy" in props:
                attributes["FilterPolicy"] = json.dumps(self.resolve(props["FilterPolicy"], where))
            if "FilterPolicyScope" in props:
                attributes["FilterPolicyScope"] = props["FilterPolicyScope"]
            arn = self.client("sns").subscribe(
                TopicArn=self.resolve(props["TopicArn"], where), Protocol=props["Protocol"],
                Endpoint=self.resolve(props["Endpoint"], where), Attributes=attributes,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
            made = {"Ref": arn}
        elif kind in ("AWS::ApiGatewayV2::Api", "AWS::Serverless::Api"):
            api_id = hashlib.sha256(name.encode()).hexdigest()[:10]
            made = {"Ref": api_id, "ApiId": api_id}
        elif kind == "AWS::Serverless::Function":
            made = {"Ref": name, "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"}
        else:
            raise Failure(f"{where}: the rehearsal does not emulate {kind}")
        self.physical[logical] = made
        return made

    # -- functions -------------------------------------------------------------------------------

    def functions(self) -> dict[str, str]:
        """Function name (its crate: CodeUri target/lambda/<name>/) → logical id."""
        found = {}
        for logical, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            code_uri = str(resource.get("Properties", {}).get("CodeUri", "")).rstrip("/")
            match = re.fullmatch(r"target/lambda/([A-Za-z0-9_-]+)", code_uri)
            if not match:
                raise Failure(f"Resources.{logical}: CodeUri {code_uri!r} is not target/lambda/<crate>/")
            found[match.group(1)] = logical
        return found

    def function_property(self, logical: str, name: str, default: Any = None) -> Any:
        own = self.resources[logical].get("Properties", {})
        if name in own:
            return own[name]
        return self.template.get("Globals", {}).get("Function", {}).get(name, default)

    def environment(self, logical: str) -> dict[str, str]:
        """The function's variables as deployed: Globals merged with its own, all resolved."""
        variables = dict(
            self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        variables.update(
            self.resources[logical].get("Properties", {}).get("Environment", {}).get("Variables", {})
        )
        env = {}
        for name, value in variables.items():
            resolved = self.resolve(value, f"{logical}.Environment.Variables.{name}")
            if resolved is NoValue:
                continue
            if not isinstance(resolved, str):
                raise Failure(f"{logical}.Environment.Variables.{name} resolves to {resolved!r}, not a string")
            env[name] = resolved
        return env

    def events(self, logical: str, kind: str) -> dict[str, dict]:
        """The function's template events of `kind` (Api, SQS, DynamoDB, Schedule): name → properties."""
        events = self.resources[logical].get("Properties", {}).get("Events", {}) or {}
        return {name: e.get("Properties", {}) for name, e in events.items() if e.get("Type") == kind}

    def policy_statements(self, logical: str) -> list[dict]:
        """The function's inline policy statements, resolved (a managed or SAM template policy
        cannot be checked here and fails)."""
        statements = []
        for i, policy in enumerate(self.function_property(logical, "Policies", []) or []):
            where = f"{logical}.Policies[{i}]"
            if not isinstance(policy, dict) or "Statement" not in policy:
                raise Failure(f"{where}: only inline policy documents can be checked, not {policy!r}")
            for statement in self.resolve(policy["Statement"], where):
                statements.append(statement)
        return statements


def parameter_problem(spec: dict, value: str) -> str | None:
    """Why CloudFormation would refuse `value` for this parameter, or None."""
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        return f"not one of {spec['AllowedValues']}"
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return f"does not match {spec['AllowedPattern']}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"shorter than {spec['MinLength']}"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"below {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"above {spec['MaxValue']}"
    return None


# ------------------------------------------------------------------------------------------------
# The AWS front: every function's AWS calls go through it to moto, recorded; the WebSocket
# management API is mocked here
# ------------------------------------------------------------------------------------------------


def read_body(handler: http.server.BaseHTTPRequestHandler) -> bytes:
    """A request body, Content-Length or chunked."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0] or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length", 0) or 0))


class Call:
    """One AWS API call a function made: who (its access key), the IAM action and resource, and
    the event the function was handling then."""

    def __init__(self, caller: str, action: str, resource: str) -> None:
        self.caller, self.action, self.resource = caller, action, resource
        self.during = ""

    def __repr__(self) -> str:
        return f"{self.action} on {self.resource}"


class AwsFront(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Forwards every request to moto and records the calls; answers the WebSocket management
    API (`POST /{stage}/@connections/{id}`) itself, keeping the frames."""

    daemon_threads = True

    def __init__(self, moto_url: str) -> None:
        super().__init__(("127.0.0.1", 0), FrontHandler)
        parsed = urllib.parse.urlsplit(moto_url)
        self.moto = (parsed.hostname, parsed.port)
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.frames: list[tuple[str, dict]] = []  # (connection id, frame)
        self.management_api = ("", "")  # (api id, stage), set once the stack is resolved
        self.ses_identities: list[str] = []
        self.in_flight: dict[str, str] = {}  # access key → the event its function is handling
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, calls: list[Call]) -> None:
        with self.lock:
            for call in calls:
                call.during = self.in_flight.get(call.caller, "init")
            self.calls.extend(calls)

    def frames_to(self, connection: str) -> list[dict]:
        with self.lock:
            return [frame for c, frame in self.frames if c == connection]


class FrontHandler(http.server.BaseHTTPRequestHandler):
    server: AwsFront
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def handle_any(self) -> None:
        body = read_body(self)
        api_id, stage = self.server.management_api
        path = urllib.parse.urlsplit(self.path).path
        if stage and path.startswith(f"/{stage}/@connections/"):
            self.management_api(api_id, stage, urllib.parse.unquote(path.split("/@connections/", 1)[1]), body)
            return
        try:
            calls = describe_calls(self.command, self.path, self.headers, body, self.server)
        except Exception:  # a request it cannot read: recorded as such, so the check fails on it
            calls = [Call(access_key(self.headers, self.path), f"unrecognised:{self.command} {self.path}", "*")]
        self.server.record(calls)
        self.forward(body)

    def management_api(self, api_id: str, stage: str, connection: str, body: bytes) -> None:
        caller = access_key(self.headers, self.path)
        resource = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{self.command}/@connections/{connection}"
        self.server.record([Call(caller, "execute-api:ManageConnections", resource)])
        if self.command == "POST":
            try:
                frame = json.loads(body)
            except ValueError:
                frame = {"unparsed": body.decode(errors="replace")}
            with self.server.lock:
                self.server.frames.append((connection, frame))
        self.answer(200, {"Content-Type": "application/json"}, b"{}")

    def forward(self, body: bytes) -> None:
        connection = http.client.HTTPConnection(*self.server.moto, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
        headers["Content-Length"] = str(len(body))
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            passed = {k: v for k, v in response.getheaders()
                      if k.lower() not in ("transfer-encoding", "connection", "content-length")}
            self.answer(response.status, passed, data)
        except OSError as error:
            self.answer(502, {"Content-Type": "text/plain"}, f"the emulator did not answer: {error}".encode())
        finally:
            connection.close()

    def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def access_key(headers: Any, path: str) -> str:
    """The access key id that signed the request (header or presigned query string)."""
    match = re.search(r"Credential=([^/,\s]+)/", headers.get("Authorization", "") or "")
    if match:
        return match.group(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    credential = query.get("X-Amz-Credential", [""])[0]
    return credential.split("/", 1)[0]


def signing_service(headers: Any, path: str) -> str:
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", "") or "")
    if match:
        return match.group(1)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    parts = query.get("X-Amz-Credential", [""])[0].split("/")
    return parts[3] if len(parts) > 3 else ""


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


DYNAMODB_TRANSACT_ACTIONS = {
    "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def describe_calls(method: str, path: str, headers: Any, body: bytes, front: AwsFront) -> list[Call]:
    """The IAM actions and resources one request needs (what the function's role is checked for)."""
    caller = access_key(headers, path)
    service = signing_service(headers, path)
    target = headers.get("X-Amz-Target", "") or ""
    if service == "dynamodb":
        operation = target.split(".", 1)[1]
        request = json.loads(body or b"{}")
        if operation in ("TransactWriteItems", "TransactGetItems"):
            calls = []
            for entry in request.get("TransactItems", []):
                (kind, op), = entry.items()
                calls.append(Call(caller, f"dynamodb:{DYNAMODB_TRANSACT_ACTIONS[kind]}", table_arn(op["TableName"])))
            return calls
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [Call(caller, f"dynamodb:{operation}", table_arn(t)) for t in request.get("RequestItems", {})]
        resource = table_arn(request.get("TableName", "?"))
        if request.get("IndexName"):
            resource += f"/index/{request['IndexName']}"
        return [Call(caller, f"dynamodb:{operation}", resource)]
    if service == "sns":
        form = urllib.parse.parse_qs(body.decode())
        action = form.get("Action", ["?"])[0]
        # PublishBatch is authorized by sns:Publish.
        action = "Publish" if action == "PublishBatch" else action
        return [Call(caller, f"sns:{action}", form.get("TopicArn", ["*"])[0])]
    if service == "sqs":
        request = json.loads(body or b"{}") if target else {}
        action = target.split(".", 1)[1] if target else urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
        queue_name = str(request.get("QueueUrl", "")).rstrip("/").rsplit("/", 1)[-1]
        return [Call(caller, f"sqs:{action}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}")]
    if service == "ses":
        if method == "POST" and urllib.parse.urlsplit(path).path == "/v2/email/outbound-emails":
            sender = json.loads(body or b"{}").get("FromEmailAddress", "")
            identity = sender if sender in front.ses_identities else sender.rsplit("@", 1)[-1]
            return [Call(caller, "ses:SendEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{identity}")]
        return [Call(caller, f"ses:{method} {urllib.parse.urlsplit(path).path}", "*")]
    if service == "s3":
        parts = urllib.parse.urlsplit(path).path.lstrip("/").split("/", 1)
        if len(parts) == 2 and parts[1]:
            action = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "GetObject", "DELETE": "DeleteObject"}
            return [Call(caller, f"s3:{action.get(method, method)}", f"arn:aws:s3:::{parts[0]}/{parts[1]}")]
        return [Call(caller, f"s3:{method} bucket", f"arn:aws:s3:::{parts[0]}")]
    return [Call(caller, f"{service or 'unknown'}:{target or method + ' ' + path}", "*")]


def allowed(statements: list[dict], call: Call) -> bool:
    """IAM's answer for one call: some Allow statement matches and no Deny does."""

    def as_list(value: Any) -> list[str]:
        return value if isinstance(value, list) else [value]

    def matches(statement: dict) -> bool:
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", "*"))
        action_ok = any(fnmatch.fnmatch(call.action.lower(), a.lower()) for a in actions)
        return action_ok and any(fnmatch.fnmatchcase(call.resource, r) for r in resources)

    if any(s.get("Effect") == "Deny" and matches(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and matches(s) for s in statements)


# ------------------------------------------------------------------------------------------------
# The Lambda Runtime API mock and the function processes
# ------------------------------------------------------------------------------------------------


class Invocation:
    def __init__(self, request_id: str, event: bytes) -> None:
        self.request_id = request_id
        self.event = event
        self.done = threading.Event()
        self.outcome = ""  # "response" or "error"
        self.payload = b""


class RuntimeApi(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """The Lambda Runtime API for one function: hands out one event per
    `GET /2018-06-01/runtime/invocation/next`, takes its `/response` or `/error`."""

    daemon_threads = True

    def __init__(self, function_arn: str) -> None:
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.function_arn = function_arn
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.open: dict[str, Invocation] = {}
        self.init_error = b""
        self.deadline_ms = 0
        self.stopping = False
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class RuntimeHandler(http.server.BaseHTTPRequestHandler):
    server: RuntimeApi

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if not self.path.endswith("/runtime/invocation/next"):
            self.reply(404, b"")
            return
        while not self.server.stopping:
            try:
                invocation = self.server.pending.get(timeout=0.5)
            except queue.Empty:
                continue
            self.server.open[invocation.request_id] = invocation
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(self.server.deadline_ms))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", self.server.function_arn)
            self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(invocation.event)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(invocation.event)
            return

    def do_POST(self) -> None:
        body = read_body(self)
        match = re.search(r"/runtime/invocation/([^/]+)/(response|error)$", self.path)
        if match and match.group(1) in self.server.open:
            invocation = self.server.open.pop(match.group(1))
            invocation.outcome, invocation.payload = match.group(2), body
            invocation.done.set()
        elif self.path.endswith("/runtime/init/error"):
            self.server.init_error = body
        self.reply(202, b"")

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class Function:
    """One function's binary, started on its first event and kept for the next ones (a warm
    instance), with the environment the template gives it plus what Lambda itself sets."""

    def __init__(self, name: str, logical: str, binary: Path, app_env: dict[str, str], timeout: int,
                 memory: int, logging: dict, front: AwsFront) -> None:
        self.name, self.logical, self.binary = name, logical, binary
        self.app_env = app_env
        self.timeout = timeout
        self.memory = memory
        self.logging = logging  # the template's LoggingConfig
        self.front = front
        self.function_name = f"{STACK}-{logical}"
        self.runtime = RuntimeApi(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}")
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = LOG_DIR / f"{name}.log"
        self.events: list[str] = []  # what it was given, for the summary
        self.failed = False

    @property
    def access_key(self) -> str:
        """Each function signs with its own key id, so the front knows whose call it is."""
        return "AKIAREHEARSAL" + re.sub(r"[^A-Z0-9]", "", self.logical.upper())[:16]

    def environment(self) -> dict[str, str]:
        """What the process starts with: nothing of the harness's own environment."""
        env = {
            # What Lambda's provided.al2023 runtime sets.
            "AWS_LAMBDA_RUNTIME_API": self.runtime.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": "rehearsal-secret",
            "AWS_SESSION_TOKEN": "rehearsal-session",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "_HANDLER": "bootstrap",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            # The one override of ours: the code's emulator endpoint (DynamoDB, S3, SNS, SQS, SES).
            "CY_AWS_ENDPOINT": self.front.url,
        }
        if self.logging.get("LogFormat") == "JSON":
            env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            env["AWS_LAMBDA_LOG_LEVEL"] = self.logging.get("ApplicationLogLevel", "INFO")
        clash = sorted(set(env) & set(self.app_env))
        if clash:
            raise Failure(f"{self.name}: the template sets variables Lambda reserves: {clash}")
        env.update(self.app_env)
        return env

    def start(self) -> None:
        if not self.binary.is_file():
            raise Failure(f"{self.name}: no binary at {self.binary} (build it: see infra/dev.py, REHEARSAL_BUILD)")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        output = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(self.binary)], env=self.environment(), cwd=LOG_DIR,
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        output.close()

    def invoke(self, event: dict, what: str) -> tuple[str, Any]:
        """Hands the function one event; returns ("response" | "error", the payload as JSON)."""
        if self.process is None:
            self.start()
        self.events.append(what)
        invocation = Invocation(str(uuid.uuid4()), json.dumps(event).encode())
        self.runtime.deadline_ms = int((time.time() + self.timeout) * 1000)
        self.front.in_flight[self.access_key] = what
        started = time.monotonic()
        try:
            self.runtime.pending.put(invocation)
            self.wait(invocation, what)
        finally:
            self.front.in_flight.pop(self.access_key, None)
        seconds = time.monotonic() - started
        if seconds > self.timeout:
            log(f"warning: {self.name} took {seconds:.1f}s for {what}, over its template Timeout {self.timeout}s")
        try:
            payload = json.loads(invocation.payload) if invocation.payload else None
        except ValueError:
            payload = invocation.payload.decode(errors="replace")
        if invocation.outcome == "error":
            self.failed = True
            raise Failure(f"{self.name} answered {what} with an error: {payload}" + self.tail())
        return invocation.outcome, payload

    def wait(self, invocation: Invocation, what: str) -> None:
        """Until the invocation is answered; the process dying or the time running out fails."""
        assert self.process is not None
        limit = self.timeout * TIMEOUT_FACTOR
        started = time.monotonic()
        while not invocation.done.wait(0.05):
            if self.process.poll() is not None:
                self.failed = True
                init = self.runtime.init_error.decode(errors="replace")
                raise Failure(
                    f"{self.name} exited with code {self.process.returncode} on {what}"
                    + (f"; init error: {init}" if init else "") + self.tail()
                )
            if time.monotonic() - started > limit:
                self.failed = True
                raise Failure(f"{self.name}: no answer to {what} within {limit}s "
                              f"(template Timeout {self.timeout}s × {TIMEOUT_FACTOR})" + self.tail())

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        if not text:
            return f" ({self.log_path.relative_to(ROOT)} is empty)"
        return f"\n--- last {len(text)} lines of {self.log_path.relative_to(ROOT)} ---\n" + "\n".join(text)

    def error_logs(self) -> list[str]:
        """Lines the function logged at ERROR level (or panics)."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in text if '"level":"ERROR"' in line or "panicked at" in line]

    def stop(self) -> None:
        self.runtime.stopping = True
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.runtime.shutdown()
        self.runtime.server_close()


# ------------------------------------------------------------------------------------------------
# Events, in the shapes AWS delivers them
# ------------------------------------------------------------------------------------------------


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_event(method: str, path: str, resource: str, path_parameters: dict[str, str] | None,
              stage: str, api_id: str, headers: dict[str, str], query: dict[str, str] | None,
              body: str | None) -> dict:
    """An API Gateway REST proxy event (events/*.json): `path` without the stage,
    `requestContext.path` with it."""
    epoch_ms = int(time.time() * 1000)
    domain = f"{api_id}.execute-api.{REGION}.amazonaws.com"
    all_headers = {"Host": domain, "X-Forwarded-Proto": "https", "User-Agent": "rehearsal/1.0",
                   "X-Forwarded-For": "203.0.113.7", **headers}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": api_id,
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "rehearsal/1.0"},
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "requestTimeEpoch": epoch_ms,
            "resourceId": hashlib.sha256(resource.encode()).hexdigest()[:6],
            "resourcePath": resource,
            "stage": stage,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def websocket_event(route: str, connection: str, stage: str, api_id: str, *,
                    token: str | None = None, body: str | None = None) -> dict:
    """An API Gateway WebSocket event (events/websocket-*.json)."""
    kind = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    domain = f"{api_id}.execute-api.{REGION}.amazonaws.com"
    context = {
        "routeKey": route, "eventType": kind, "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "messageDirection": "IN",
        "stage": stage, "connectedAt": int(time.time() * 1000), "requestTimeEpoch": int(time.time() * 1000),
        "identity": {"sourceIp": "203.0.113.7", "userAgent": "rehearsal/1.0"},
        "requestId": uuid.uuid4().hex[:16], "domainName": domain, "connectionId": connection, "apiId": api_id,
    }
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if kind == "CONNECT":
        event["headers"] = {"Host": domain, "Sec-WebSocket-Version": "13"}
        event["multiValueHeaders"] = {"Host": [domain], "Sec-WebSocket-Version": ["13"]}
        event["queryStringParameters"] = {"token": token} if token is not None else None
        event["multiValueQueryStringParameters"] = {"token": [token]} if token is not None else None
    if kind == "MESSAGE":
        context["messageId"] = uuid.uuid4().hex[:16]
        event["body"] = body
    return event


def schedule_event(rule_arn: str) -> dict:
    """An EventBridge scheduled event (events/order-expiry-schedule.json)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": now_iso(), "region": REGION, "resources": [rule_arn], "detail": {}}


def sqs_record(message: dict, queue_arn: str) -> dict:
    """An SQS message as Lambda's event source mapping hands it over (events/notify-fanout-*.json)."""
    attributes = {
        name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"],
               "stringListValues": [], "binaryListValues": []}
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": message.get("Attributes", {}), "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def stream_record(record: dict, stream_arn: str) -> dict:
    """A DynamoDB stream record as Lambda hands it over (events/outbox-relay-stream.json)."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**{k: v for k, v in record.items() if k != "dynamodb"}, "dynamodb": change,
            "eventSourceARN": stream_arn}


def route_pattern(path: str) -> re.Pattern:
    """A template path (`/orders/{id}/status`, `/files/{proxy+}`) as a regex with named groups."""
    parts = []
    for segment in path.strip("/").split("/"):
        variable = re.fullmatch(r"\{([A-Za-z0-9_]+)(\+?)\}", segment)
        if variable:
            parts.append(f"(?P<{variable.group(1)}>{'.+' if variable.group(2) else '[^/]+'})")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


def filter_matches(pattern: Any, value: Any, where: str) -> bool:
    """Lambda event filtering, for the patterns the template uses: exact values and prefixes."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(filter_matches(p, value.get(k), f"{where}.{k}") for k, p in pattern.items())
    if isinstance(pattern, list):
        for option in pattern:
            if isinstance(option, dict):
                if set(option) != {"prefix"}:
                    raise Failure(f"{where}: the rehearsal does not evaluate the filter {option}")
                if isinstance(value, str) and value.startswith(option["prefix"]):
                    return True
            elif value == option:
                return True
        return False
    raise Failure(f"{where}: cannot read the filter pattern {pattern!r}")


def stripe_signed(body: bytes, secret: str) -> str:
    """Stripe's `Stripe-Signature` header for `body`, now."""
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


# ------------------------------------------------------------------------------------------------
# The rehearsal: the stack, the functions, the flow
# ------------------------------------------------------------------------------------------------


class Answer:
    """What a client got back from an HTTP function."""

    def __init__(self, function: str, method: str, path: str, status: int, body: Any, headers: dict) -> None:
        self.function, self.method, self.path = function, method, path
        self.status, self.body, self.headers = status, body, headers

    def __repr__(self) -> str:
        return f"{self.method} {self.path} → {self.function}: {self.status} {json.dumps(self.body)[:600]}"


class Rehearsal:
    def __init__(self, stack: Stack, front: AwsFront, bin_dir: Path) -> None:
        self.stack = stack
        self.front = front
        self.functions: dict[str, Function] = {}
        for name, logical in stack.functions().items():
            timeout = int(stack.function_property(logical, "Timeout", 3))
            memory = int(stack.function_property(logical, "MemorySize", 128))
            logging = stack.function_property(logical, "LoggingConfig", {}) or {}
            self.functions[name] = Function(name, logical, bin_dir / name, stack.environment(logical),
                                            timeout, memory, logging, front)
        self.stage = self._stage_name()
        self.rest_api = stack.make(self._rest_api_logical())["Ref"]
        self.routes = self._routes()
        self.ws_api, self.ws_routes = self._websocket_api()
        self.stream_iterators: dict[str, str] = {}

    # -- the template's wiring -------------------------------------------------------------------

    def _rest_api_logical(self) -> str:
        apis = [k for k, r in self.stack.resources.items() if r.get("Type") == "AWS::Serverless::Api"]
        if len(apis) != 1:
            raise Failure(f"expected one AWS::Serverless::Api, found {apis}")
        return apis[0]

    def _stage_name(self) -> str:
        api = self.stack.resources[self._rest_api_logical()]
        return self.stack.resolve(api["Properties"]["StageName"], "Api.StageName")

    def _routes(self) -> list[tuple[str, str, re.Pattern, str]]:
        """(method, template path, its regex, function) for every Api event in the template."""
        routes = []
        for name, fn in self.functions.items():
            for props in self.stack.events(fn.logical, "Api").values():
                path, method = props["Path"], props["Method"].upper()
                routes.append((method, path, route_pattern(path), name))
        return routes

    def _websocket_api(self) -> tuple[str, set[str]]:
        """The WebSocket API's id and the route keys the template gives it."""
        apis = [k for k, r in self.stack.resources.items()
                if r.get("Type") == "AWS::ApiGatewayV2::Api" and r["Properties"].get("ProtocolType") == "WEBSOCKET"]
        if len(apis) != 1:
            raise Failure(f"expected one WebSocket API in the template, found {apis}")
        route_keys = {r["Properties"]["RouteKey"] for r in self.stack.resources.values()
                      if r.get("Type") == "AWS::ApiGatewayV2::Route"}
        return self.stack.make(apis[0])["Ref"], route_keys

    # -- invoking --------------------------------------------------------------------------------

    def api(self, method: str, path: str, token: str | None = None, body: Any = None,
            headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
            raw_body: bytes | None = None) -> Answer:
        """One HTTPS request to the REST API: routed to the function whose template events
        declare it, as API Gateway would; a 5xx fails the rehearsal."""
        matches = []
        for route_method, resource, pattern, function_name in self.routes:
            match = pattern.match(path)
            if route_method == method and match:
                matches.append((resource, match, function_name))
        if not matches:
            raise Failure(f"no function in template.yaml declares {method} {path} (API Gateway would answer 403)")
        if len(matches) > 1:
            raise Failure(f"several functions declare {method} {path}: {[m[2] for m in matches]}")
        resource, match, name = matches[0]
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        text = None
        if raw_body is not None:
            text = raw_body.decode()
        elif body is not None:
            text = json.dumps(body)
        if text is not None:
            all_headers.setdefault("Content-Type", "application/json")
        event = api_event(method, path, resource, match.groupdict(), self.stage, self.rest_api,
                          all_headers, query, text)
        function = self.functions[name]
        _, payload = function.invoke(event, f"{method} {resource}")
        if not isinstance(payload, dict) or "statusCode" not in payload:
            raise Failure(f"{name}: {method} {path} answered no API Gateway response: {payload!r}" + function.tail())
        raw = payload.get("body") or ""
        if payload.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode(errors="replace")
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        headers_out = {k.lower(): v for k, v in (payload.get("headers") or {}).items()}
        answer = Answer(name, method, path, int(payload["statusCode"]), parsed, headers_out)
        if answer.status >= 500:
            function.failed = True
            raise Failure(f"a 5xx: {answer}" + function.tail())
        return answer

    def expect(self, answer: Answer, status: int, what: str) -> Any:
        """The body of an answer that must have `status`."""
        if answer.status != status:
            self.functions[answer.function].failed = True
            raise Failure(f"{what}: expected {status}, got {answer}" + self.functions[answer.function].tail())
        return answer.body

    def websocket(self, route: str, connection: str, *, token: str | None = None, body: Any = None) -> dict:
        """One WebSocket API event (a route key the template declares) to function `websocket`."""
        if route not in self.ws_routes:
            raise Failure(f"template.yaml has no WebSocket route {route}")
        event = websocket_event(route, connection, self.stage, self.ws_api, token=token,
                                body=json.dumps(body) if body is not None else None)
        _, payload = self.functions["websocket"].invoke(event, f"websocket {route}")
        if not isinstance(payload, dict) or "statusCode" not in payload:
            raise Failure(f"websocket: {route} answered {payload!r}" + self.functions["websocket"].tail())
        return payload

    def schedule(self, name: str) -> Any:
        """The function's scheduled event (its template Schedule event's rule)."""
        function = self.functions[name]
        rules = self.stack.events(function.logical, "Schedule")
        if not rules:
            raise Failure(f"{name} has no Schedule event in template.yaml")
        rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-{function.logical}{next(iter(rules))}"
        _, payload = function.invoke(schedule_event(rule), "schedule")
        return payload

    def relay_stream(self) -> list[dict]:
        """outbox-relay on the table's stream, as its template event source delivers it: the new
        records of the stream it names, through its filter, in batches of its BatchSize.
        Returns the records handed over."""
        function = self.functions["outbox-relay"]
        (source,) = self.stack.events(function.logical, "DynamoDB").values()
        stream_arn = self.stack.resolve(source["Stream"], "outbox-relay.Events.Stream")
        patterns = [json.loads(f["Pattern"]) for f in source.get("FilterCriteria", {}).get("Filters", [])]
        batch_size = int(source.get("BatchSize", 100))
        records = [stream_record(r, stream_arn) for r in self.read_stream(stream_arn)]
        wanted = [r for r in records if not patterns or any(filter_matches(p, r, "FilterCriteria") for p in patterns)]
        for start in range(0, len(wanted), batch_size):
            _, payload = function.invoke({"Records": wanted[start:start + batch_size]}, "stream batch")
            failures = (payload or {}).get("batchItemFailures") or []
            if failures:
                raise Failure(f"outbox-relay reported failed records: {failures}" + function.tail())
        return wanted

    def read_stream(self, stream_arn: str) -> list[dict]:
        """The stream's records since the last read (TRIM_HORIZON the first time)."""
        streams = self.stack.client("dynamodbstreams")
        records = []
        shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = self.stream_iterators.get(shard["ShardId"]) or streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while True:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                records.extend(page["Records"])
                iterator = page.get("NextShardIterator") or iterator
                if not page["Records"]:
                    break
            self.stream_iterators[shard["ShardId"]] = iterator
        return records

    def fan_out(self) -> list[dict]:
        """notify-fanout on its queue, as its template SQS event source delivers it: every
        message waiting there, in batches of its BatchSize; handled ones are deleted. Returns
        the events (message bodies) handed over."""
        function = self.functions["notify-fanout"]
        (source,) = self.stack.events(function.logical, "SQS").values()
        queue_arn = self.stack.resolve(source["Queue"], "notify-fanout.Events.Queue")
        queue_url = self.queue_url(queue_arn)
        batch_size = int(source.get("BatchSize", 10))
        sqs = self.stack.client("sqs")
        handed: list[dict] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=min(batch_size, 10), WaitTimeSeconds=0,
                MessageAttributeNames=["All"], AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return handed
            _, payload = function.invoke({"Records": [sqs_record(m, queue_arn) for m in messages]}, "SQS batch")
            failures = (payload or {}).get("batchItemFailures") or []
            if failures:
                raise Failure(f"notify-fanout reported failed messages: {failures}" + function.tail())
            for message in messages:
                handed.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def queue_url(self, arn: str) -> str:
        for made in self.stack.physical.values():
            if made.get("Arn") == arn and "QueueUrl" in made:
                return made["QueueUrl"]
        raise Failure(f"no queue made for {arn}")

    def table_item(self, pk: str, sk: str) -> dict | None:
        table = self.stack.make("Table")["Ref"]
        return self.stack.client("dynamodb").get_item(
            TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
        ).get("Item")

    def stop(self) -> None:
        for function in self.functions.values():
            function.stop()


# ------------------------------------------------------------------------------------------------
# The flow
# ------------------------------------------------------------------------------------------------


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def step(title: str) -> None:
    log(f"· {title}")


def bootstrap_admin(stack: Stack, bin_dir: Path, front_url: str) -> None:
    """The operator's first step on a fresh stage (README): `customiseyou-admin bootstrap`."""
    binary = bin_dir / "customiseyou-admin"
    if not binary.is_file():
        raise Failure(f"no {binary} (build it: see infra/dev.py, REHEARSAL_BUILD)")
    env = {"PATH": "/usr/bin:/bin", "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": OPERATOR_KEY,
           "AWS_SECRET_ACCESS_KEY": "test", "CY_DYNAMODB_ENDPOINT": front_url, "RUST_LOG": "warn"}
    table = stack.make("Table")["Ref"]
    done = subprocess.run(
        [str(binary), "bootstrap", "--table", table, "--email", ADMIN_EMAIL, "--starter-categories"],
        input=ADMIN_PASSWORD + "\n", text=True, capture_output=True, env=env, timeout=120,
    )
    if done.returncode != 0:
        raise Failure(f"customiseyou-admin bootstrap failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def probe_routes(r: Rehearsal) -> None:
    """Every route the template gives an HTTP function reaches one of its handlers: no answer
    is the router's own "no such path/method" (a route prefix or method the code does not
    serve), and none is a 5xx. Requests carry no token and an empty object, so they are
    refused early (401, 400) or answered as public reads."""
    for method, path, _, name in r.routes:
        concrete = re.sub(r"\{[^}]+\}", "rehearsal-probe", path)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        answer = r.api(method, concrete, body=body)
        message = answer.body.get("error", {}).get("message") if isinstance(answer.body, dict) else None
        if message in (NO_ROUTE, NO_METHOD):
            r.functions[name].failed = True
            raise Failure(f"{name} does not serve {method} {path}, which template.yaml routes to it: {answer}")


def run_flow(r: Rehearsal, stack: Stack) -> None:
    """Register → KYC → product → quote → order → webhook → fulfilment → outbox → notifications,
    WebSocket, chat, sweeps, payouts: each step through the function the template routes it to."""
    api, expect = r.api, r.expect

    step("routes: every template route reaches its function's router")
    probe_routes(r)

    step("auth: the admin signs in; a seller and a customer register")
    admin = expect(api("POST", "/auth/login", body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}), 200,
                   "admin login")["access_token"]
    run = stack.suffix
    seller_email, customer_email = f"seller-{run}@rehearsal.example", f"customer-{run}@rehearsal.example"
    seller_reg = expect(api("POST", "/auth/register", body={
        "email": seller_email, "password": PASSWORD, "name": "Asha Rao", "role": "seller"}), 201, "seller sign-up")
    customer_reg = expect(api("POST", "/auth/register", headers={"Idempotency-Key": f"signup-{run}"}, body={
        "email": customer_email, "password": PASSWORD, "name": "Ravi Kumar", "role": "customer"}), 201,
        "customer sign-up")
    seller, seller_id = seller_reg["access_token"], seller_reg["user"]["id"]
    refreshed = expect(api("POST", "/auth/refresh", body={"refresh_token": customer_reg["refresh_token"]}), 200,
                       "refresh")
    customer = refreshed["access_token"]

    step("users: profile and address book")
    me = expect(api("GET", "/me", token=seller), 200, "GET /me")
    check(me["id"] == seller_id and me["role"] == "seller", f"GET /me answered {me}")
    address = expect(api("POST", "/me/addresses", token=customer, body={
        "name": "Ravi Kumar", "line1": "12 MG Road", "city": "Bengaluru", "postal_code": "560001",
        "country": "IN"}), 201, "add an address")

    step("products (admin): KYC required and products moderated")
    expect(api("PUT", "/admin/settings/platform", token=admin,
               body={"product_moderation": True, "kyc_required": True}), 200, "platform settings")
    categories = expect(api("GET", "/categories"), 200, "GET /categories")
    check("home-mugs" in json.dumps(categories), f"the starter categories are not listed: {categories}")

    step("sellers: shop, payout account, KYC with an uploaded document; an admin approves")
    profile = expect(api("PUT", "/seller/profile", token=seller, body={
        "shop_name": "Asha Engraves", "description": "Mugs, engraved by hand",
        "payout_account": {"holder_name": "Asha Rao", "account_number": "501002345678901",
                           "ifsc": "HDFC0001234"}}), 200, "PUT /seller/profile")
    check(profile["payout_account"]["account_number_masked"].endswith("8901"), f"not masked: {profile}")
    ticket = expect(api("POST", "/uploads", token=seller, body={
        "purpose": "kyc_document", "content_type": "application/pdf", "size": 9}), 201, "POST /uploads")
    upload_kyc_document(ticket, b"%PDF-1.4\n")
    bucket = stack.make("UploadsBucket")["Ref"]
    stack.client("s3").head_object(Bucket=bucket, Key=ticket["object_key"])
    kyc = expect(api("POST", "/seller/kyc", token=seller, body={
        "documents": [ticket["object_key"]], "id_type": "pan", "id_number": "ABCDE1234F"}), 200, "POST /seller/kyc")
    check(kyc["status"] == "pending", f"KYC: {kyc}")
    stored = r.table_item(f"SELLER#{seller_id}", "PROFILE")
    check(stored is not None, "the seller's profile is not in the table")
    check("ABCDE1234F" not in json.dumps(stored) and "501002345678901" not in json.dumps(stored),
          "the seller's id number or account number is stored in the clear")
    pending = expect(api("GET", "/admin/sellers", token=admin, query={"kyc_status": "pending"}), 200,
                     "GET /admin/sellers")
    check(any(s["seller_id"] == seller_id for s in pending["items"]),
          f"the seller is not in the review queue: {pending}")
    approved = expect(api("POST", f"/admin/sellers/{seller_id}/approve", token=admin), 200, "approve the seller")
    check(approved["kyc"]["status"] == "approved", f"approve answered {approved}")

    step("products: the seller lists a customisable product; an admin approves it")
    product = expect(api("POST", "/seller/products", token=seller, headers={"Idempotency-Key": f"mug-{run}"}, body={
        "title": "Engraved steel mug", "description": "A 350 ml steel mug, engraved with your text.",
        "category_id": "home-mugs", "base_price": {"amount": 79900, "currency": "INR"}, "stock": 5,
        "options": [{"name": "Engraving", "kind": "text", "required": True, "max_length": 20,
                     "allowed": "alphanumeric", "price_per_char": 500}]}), 201, "create a product")
    check(product["status"] == "pending_review", f"moderation is on, yet: {product['status']}")
    queue_ = expect(api("GET", "/admin/products", token=admin, query={"status": "pending_review"}), 200,
                    "moderation queue")
    check(any(p["id"] == product["id"] for p in queue_["items"]), f"not in the moderation queue: {queue_}")
    product = expect(api("POST", f"/admin/products/{product['id']}/approve", token=admin,
                         headers={"If-Match": str(product["version"])}), 200, "approve the product")
    check(product["status"] == "active", f"approved product: {product['status']}")
    public = expect(api("GET", f"/products/{product['id']}"), 200, "GET /products/{id}")
    engraving = public["options"][0]["id"]

    step("quote: shipping and tax rules; the customer gets a sealed quote")
    expect(api("PUT", "/seller/shipping", token=seller, body={"flat": {"amount": 4900, "currency": "INR"}}), 200,
           "PUT /seller/shipping")
    expect(api("PUT", "/admin/settings/tax", token=admin, body={"rules": [{"country": "IN", "bps": 1800}]}), 200,
           "PUT /admin/settings/tax")
    quote = expect(api("POST", "/quotes", token=customer, body={
        "items": [{"product_id": product["id"], "quantity": 2, "customizations": {engraving: "ASHA"}}],
        "address_id": address["id"]}), 200, "POST /quotes")
    check(quote["total"]["amount"] > 0 and quote["shipping"]["amount"] == 4900, f"quote: {quote}")

    step("websocket: customer and seller connect; ping answers pong through the management API")
    customer_socket, seller_socket = f"cust{run}Conn=", f"sell{run}Conn="
    check(r.websocket("$connect", "refused" + run, token=None)["statusCode"] == 401, "$connect without a token")
    for connection, token in ((customer_socket, customer), (seller_socket, seller)):
        answer = r.websocket("$connect", connection, token=token)
        check(answer["statusCode"] == 200, f"$connect: {answer}")
    r.websocket("$default", customer_socket, body={"action": "ping"})
    check({"type": "pong", "data": {}} in r.front.frames_to(customer_socket),
          f"no pong pushed to {customer_socket}: {r.front.frames_to(customer_socket)}")

    step("orders: the customer places the order (Idempotency-Key retried)")
    order_body = {"quote_token": quote["quote_token"], "address_id": address["id"], "payment_provider": "stripe"}
    placed = expect(api("POST", "/orders", token=customer, headers={"Idempotency-Key": f"order-{run}"},
                        body=order_body), 201, "POST /orders")
    again = expect(api("POST", "/orders", token=customer, headers={"Idempotency-Key": f"order-{run}"},
                       body=order_body), 201, "POST /orders again")
    order, payment = placed["order"], placed["payment"]
    check(again["order"]["id"] == order["id"], "a retried POST /orders placed a second order")
    check(order["status"] == "pending_payment" and order["total"] == quote["total"], f"order: {order}")
    stored_order = r.table_item(f"ORDER#{order['id']}", "DETAILS")
    check(stored_order is not None, f"order {order['id']} is not in the table")

    step("payment-webhook: Stripe's signed payment_intent.succeeded pays it")
    event = {
        "id": f"evt_rehearsal_{run}", "object": "event", "type": "payment_intent.succeeded",
        "created": int(time.time()), "livemode": False, "api_version": "2024-06-20",
        "data": {"object": {
            "id": payment["reference"], "object": "payment_intent", "amount": payment["amount"]["amount"],
            "amount_received": payment["amount"]["amount"], "currency": payment["amount"]["currency"].lower(),
            "status": "succeeded", "metadata": {"order_id": order["id"]}}},
    }
    raw = json.dumps(event).encode()
    secret = stack.environment(r.functions["payment-webhook"].logical)["STRIPE_WEBHOOK_SECRET"].split(",")[0]
    forged = api("POST", "/webhooks/stripe", raw_body=raw,
                 headers={"Stripe-Signature": stripe_signed(raw, "whsec_wrong")})
    check(forged.status == 400, f"a badly signed webhook was not refused: {forged}")
    paid = expect(api("POST", "/webhooks/stripe", raw_body=raw,
                      headers={"Stripe-Signature": stripe_signed(raw, secret)}),
                  200, "signed webhook")
    check(paid.get("status") == "paid", f"webhook answered {paid}")
    redelivered = expect(api("POST", "/webhooks/stripe", raw_body=raw,
                             headers={"Stripe-Signature": stripe_signed(raw, secret)}), 200, "the event redelivered")
    check(redelivered.get("outcome") == "duplicate", f"a redelivery answered {redelivered}")
    seen = expect(api("GET", f"/orders/{order['id']}", token=customer), 200, "GET /orders/{id}")
    check(seen["status"] == "paid", f"after the webhook the order is {seen['status']}")

    step("orders: the seller moves the part processing → shipped → delivered")
    shipped = {"tracking": {"carrier": "BlueDart", "number": "BD123456"}}
    for status, extra in (("processing", {}), ("shipped", shipped), ("delivered", {})):
        moved = expect(api("PUT", f"/orders/{order['id']}/status", token=seller, body={"status": status, **extra}),
                       200, f"move to {status}")
        check(moved["status"] == status, f"moved to {status}: {moved['status']}")
    sold = expect(api("GET", "/seller/orders", token=seller), 200, "GET /seller/orders")
    check(any(o["order_id"] == order["id"] for o in sold["items"]), "the order is not in GET /seller/orders")
    every = expect(api("GET", "/orders", token=admin), 200, "an admin's GET /orders (every order: GSI2)")
    check(any(o["order_id"] == order["id"] for o in every["items"]), f"the order is not in an admin's list: {every}")
    timeline = expect(api("GET", f"/orders/{order['id']}/timeline", token=customer), 200, "the order's timeline")
    steps = [entry["to"] for entry in timeline["items"]]
    check(steps[:1] == ["pending_payment"] and "delivered" in steps, f"timeline: {steps}")

    step("outbox-relay: the table's stream, through the template's filter, to the topic")
    relayed = r.relay_stream()
    kinds = [record["dynamodb"]["NewImage"]["type"]["S"] for record in relayed]
    relayed_ids = sorted(record["dynamodb"]["NewImage"]["id"]["S"] for record in relayed)
    for kind in ("seller.kyc_decided", "order.created", "order.status_changed"):
        check(kind in kinds, f"no {kind} outbox record reached the relay: {kinds}")

    step("notify-fanout: the queue the topic feeds (filter policy, raw delivery)")
    events = r.fan_out()
    check(sorted(e["id"] for e in events) == relayed_ids,
          f"relayed {sorted(kinds)} but the queue delivered {sorted(e['type'] for e in events)}")
    moves = [f["data"].get("fulfilment_status") or f["data"].get("status")
             for f in r.front.frames_to(customer_socket) if f.get("type") == "order.status_changed"]
    check("delivered" in moves, f"the customer's socket got no delivered push: {r.front.frames_to(customer_socket)}")
    for who, token in (("customer", customer), ("seller", seller)):
        notes = expect(api("GET", "/me/notifications", token=token), 200, "GET /me/notifications")
        check(notes["items"], f"the {who} has no in-app notification")
    mail = sent_mail(stack.endpoint)
    for address_ in (customer_email, seller_email):
        check(address_ in mail, f"no mail to {address_} in the emulator's SES (sent to: {sorted(mail)})")

    step("order-expiry: the schedule completes the delivered part (return window 0)")
    report = r.schedule("order-expiry")
    check(isinstance(report, dict), f"order-expiry answered {report!r}")
    seen = expect(api("GET", f"/orders/{order['id']}", token=customer), 200, "GET /orders/{id}")
    check(seen["status"] == "completed", f"after the sweep the order is {seen['status']} (report {report})")
    balance = expect(api("GET", "/seller/balance", token=seller), 200, "GET /seller/balance")
    check("available" in json.dumps(balance) and json.dumps(balance) != "{}", f"balance: {balance}")

    step("chat: a conversation over REST, a reply over the socket, both relayed and fanned out")
    conversation = expect(api("POST", "/conversations", token=customer, body={
        "seller_id": seller_id, "product_id": product["id"]}), 201, "POST /conversations")
    expect(api("POST", f"/conversations/{conversation['id']}/messages", token=customer,
               body={"body": "Can the engraving be in gold?"}), 201, "POST a message")
    r.websocket("$default", seller_socket, body={"action": "chat.send", "conversation_id": conversation["id"],
                                                 "body": "Yes, gold is possible."})
    check(any(f.get("type") == "chat.message" for f in r.front.frames_to(seller_socket)),
          f"chat.send was not acknowledged: {r.front.frames_to(seller_socket)}")
    listed = expect(api("GET", f"/conversations/{conversation['id']}/messages", token=seller), 200, "messages")
    check(len(listed["items"]) == 2, f"messages: {listed}")
    step("the other routes, each as its users would call it")
    other_routes(r, admin=admin, seller=seller, customer=customer, product=product, engraving=engraving,
                 address=address["id"], run=run)

    step("outbox-relay and notify-fanout again: the chat messages and the cancelled order")
    r.relay_stream()
    chat_events = [e for e in r.fan_out() if e["type"] == "chat.message"]
    check(len(chat_events) == 2, f"chat events fanned out: {chat_events}")
    pushed = [f for f in r.front.frames_to(customer_socket) if f.get("type") == "chat.message"]
    check(pushed, "the seller's reply was not pushed to the customer's socket")

    step("payout-batch: the schedule reads approved sellers and their balances")
    report = r.schedule("payout-batch")
    check(isinstance(report, dict) and report.get("sellers", 0) >= 1, f"payout-batch answered {report!r}")
    # Earnings of the last SETTLE_MARGIN_SECS (5 minutes) wait for the next run: no transfer yet.
    log(f"  payout-batch report: {json.dumps(report)}")

    step("websocket: $disconnect")
    for connection in (customer_socket, seller_socket):
        check(r.websocket("$disconnect", connection)["statusCode"] == 200, "$disconnect")


def other_routes(r: Rehearsal, *, admin: str, seller: str, customer: str, product: dict, engraving: str,
                 address: str, run: str) -> None:
    """The routes the main flow does not take, once each with a valid request, so each function's
    other reads and writes (and the permissions they need) are rehearsed too."""
    api = r.api

    def ok(answer: Answer, what: str) -> Any:
        if not 200 <= answer.status < 300:
            r.functions[answer.function].failed = True
            raise Failure(f"{what}: expected a 2xx, got {answer}" + r.functions[answer.function].tail())
        return answer.body

    # auth
    signed_in = ok(api("POST", "/auth/login", body={"email": f"customer-{run}@rehearsal.example",
                                                    "password": PASSWORD}), "customer login")
    ok(api("POST", "/auth/logout", token=signed_in["access_token"],
           body={"refresh_token": signed_in["refresh_token"]}), "logout")
    # users
    ok(api("GET", "/me/addresses", token=customer), "GET /me/addresses")
    ok(api("PATCH", f"/me/addresses/{address}", token=customer, body={"line2": "Flat 4"}), "PATCH an address")
    ok(api("PATCH", "/me", token=customer, body={"name": "Ravi K"}), "PATCH /me")
    ok(api("PUT", "/me/notification-preferences", token=customer,
           body={"email": True, "sms": False, "push": True, "in_app": True}), "PUT preferences")
    ok(api("GET", "/me/notification-preferences", token=customer), "GET preferences")
    device = ok(api("POST", "/me/devices", token=customer, body={"platform": "android", "token": f"fcm-{run}"}),
                "POST /me/devices")
    ok(api("DELETE", f"/me/devices/{device['id']}", token=customer), "DELETE a device")
    notes = ok(api("GET", "/me/notifications", token=customer), "GET /me/notifications")
    ok(api("POST", f"/me/notifications/{notes['items'][0]['id']}/read", token=customer), "read a notification")
    # products
    ok(api("GET", "/products", query={"q": "mug", "sort": "price_asc"}), "search")
    ok(api("GET", "/seller/products", token=seller), "GET /seller/products")
    ok(api("GET", "/admin/categories", token=admin), "GET /admin/categories")
    category = ok(api("POST", "/admin/categories", token=admin,
                      body={"id": f"mugs-{run}", "name": "Travel mugs", "parent": "home"}), "POST /admin/categories")
    ok(api("PATCH", f"/admin/categories/mugs-{run}", token=admin,
           body={"name": "Travel mugs & flasks", "version": category["version"]}), "PATCH a category")
    current = ok(api("GET", f"/products/{product['id']}"), "GET /products/{id}")
    ok(api("PATCH", f"/seller/products/{product['id']}", token=seller,
           body={"version": current["version"], "stock_delta": 2}), "PATCH a product's stock")
    ok(api("POST", f"/seller/products/{product['id']}/images", token=seller,
           body={"content_type": "image/png", "size": 2048}), "an image upload URL")
    ok(api("GET", "/admin/settings/platform", token=admin), "GET platform settings")
    ok(api("GET", "/openapi.json"), "GET /openapi.json")
    # quote
    ok(api("POST", "/admin/coupons", token=admin, headers={"Idempotency-Key": f"coupon-{run}"},
           body={"code": f"WELCOME{run}".upper(), "type": "percent", "bps": 1000}), "POST /admin/coupons")
    ok(api("GET", "/admin/settings/tax", token=admin), "GET tax settings")
    # orders: the cart, and a second order, placed from items and cancelled unpaid
    line = {"product_id": product["id"], "quantity": 1, "customizations": {engraving: "RAVI"}}
    ok(api("PUT", "/me/cart/items/line-1", token=customer, body=line), "PUT a cart line")
    ok(api("GET", "/me/cart", token=customer), "GET /me/cart")
    ok(api("DELETE", "/me/cart/items/line-1", token=customer), "DELETE a cart line")
    second = ok(api("POST", "/orders", token=customer, headers={"Idempotency-Key": f"second-{run}"},
                    body={"items": [line], "address_id": address, "payment_provider": "razorpay"}), "a second order")
    cancelled = ok(api("POST", f"/orders/{second['order']['id']}/cancel", token=customer), "cancel it")
    check(cancelled["status"] == "cancelled", f"cancelled order: {cancelled['status']}")
    ok(api("GET", "/orders", token=customer, query={"status": "cancelled"}), "GET /orders?status=")
    ok(api("GET", "/admin/payments/flags", token=admin), "GET /admin/payments/flags")
    ok(api("GET", "/admin/sweeps/set-aside", token=admin), "GET /admin/sweeps/set-aside")
    # sellers and payouts
    ok(api("GET", "/seller/kyc", token=seller), "GET /seller/kyc")
    ok(api("GET", "/seller/profile", token=seller), "GET /seller/profile")
    ok(api("PUT", "/admin/settings/commission", token=admin,
           body={"platform_bps": 1000, "categories": {"home-mugs": 800}, "sellers": {}}), "PUT commission")
    ok(api("GET", "/admin/settings/commission", token=admin), "GET commission")
    ok(api("GET", "/seller/payouts", token=seller), "GET /seller/payouts")
    ok(api("GET", "/admin/payouts", token=admin, query={"status": "unresolved"}), "GET /admin/payouts")
    # chat
    ok(api("GET", "/conversations", token=seller), "GET /conversations")


def upload_kyc_document(ticket: dict, content: bytes) -> None:
    """PUT the file to the presigned URL, as the seller's app would."""
    headers = {k: v for k, v in (ticket.get("headers") or {}).items()}
    headers.setdefault("Content-Type", "application/pdf")
    request = urllib.request.Request(ticket["upload_url"], data=content, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            check(response.status in (200, 204), f"the presigned upload answered {response.status}")
    except urllib.error.HTTPError as error:
        raise Failure(f"the presigned upload was refused: {error.code} {error.read()[:300]!r} ({ticket})")


def sent_mail(endpoint: str) -> set[str]:
    """The addresses the emulator's SES sent mail to."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=30) as response:
        data = json.load(response)
    sent = set()
    for message in data.get("ses", {}).get("Message", []) or []:
        sent.update((message.get("destinations") or {}).get("ToAddresses", []))
    return sent


def check_permissions(r: Rehearsal, stack: Stack) -> list[str]:
    """Every AWS call each function made, against the inline policies its template role has."""
    by_key = {f.access_key: f for f in r.functions.values()}
    problems = []
    for function in r.functions.values():
        calls = [c for c in r.front.calls if c.caller == function.access_key]
        if not calls:
            continue
        statements = stack.policy_statements(function.logical)
        refused: dict[str, set[str]] = {}
        for call in calls:
            if not allowed(statements, call):
                refused.setdefault(repr(call), set()).add(call.during)
        function.failed = function.failed or bool(refused)
        for call, during in sorted(refused.items()):
            problems.append(f"{function.name}: its template policy does not allow {call} "
                            f"(called while handling {', '.join(sorted(during))})")
    strangers = sorted({c.caller for c in r.front.calls} - set(by_key) - {OPERATOR_KEY, HARNESS_KEY})
    if strangers:
        problems.append(f"calls signed by unknown keys: {strangers}")
    return problems


# ------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------


def summary(r: Rehearsal, failed: bool) -> None:
    """A line per function: events handled, result, the kinds of events and its AWS calls.
    The calls themselves are kept in target/rehearsal/aws-calls.json."""
    print("\n  function          events  result  AWS calls  events by kind", flush=True)
    for name, function in sorted(r.functions.items()):
        kinds: dict[str, int] = {}
        for what in function.events:
            kinds[what.split(" ")[0]] = kinds.get(what.split(" ")[0], 0) + 1
        calls = sum(1 for c in r.front.calls if c.caller == function.access_key)
        result = "FAIL" if function.failed else ("ok" if function.events else ("-" if failed else "NOT RUN"))
        detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        print(f"  {name:<17} {len(function.events):>6}  {result:<7} {calls:>9}  {detail}", flush=True)
    names = {f.access_key: f.name for f in r.functions.values()}
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / "aws-calls.json").write_text(json.dumps(
        [{"function": names.get(c.caller, c.caller), "action": c.action, "resource": c.resource,
          "during": c.during} for c in r.front.calls], indent=1))


def start_emulator() -> tuple[str, Callable[[], None]]:
    """The emulator `CY_AWS_ENDPOINT` names, or moto started here (stopped by the callback)."""
    endpoint = os.environ.get("CY_AWS_ENDPOINT") or os.environ.get("CY_DYNAMODB_ENDPOINT")
    if endpoint:
        log(f"using the emulator at {endpoint}")
        return endpoint, lambda: None
    emulator = dev.Emulator()
    emulator.log_path = dev.LOG_DIR / "rehearsal.log"
    emulator.start()
    return emulator.url, emulator.stop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "debug",
                        help="where the function binaries and customiseyou-admin are (default target/debug)")
    parser.add_argument("--template", type=Path, default=dev.TEMPLATE,
                        help="the SAM template to rehearse (default template.yaml)")
    args = parser.parse_args(argv)
    bin_dir = args.bin_dir.resolve()

    # Credentials for the harness's own boto3 calls to the emulator, never a developer's.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)

    # SIGTERM (dev.py stopping a step, a CI timeout) unwinds like Ctrl-C: the functions'
    # processes and the emulator are always stopped.
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    endpoint, stop_emulator = start_emulator()
    front = AwsFront(endpoint)
    rehearsal: Rehearsal | None = None
    failure: Failure | None = None
    started = time.monotonic()
    try:
        stack = Stack(dev.load_template(args.template), endpoint)
        check_build_list(stack)
        stack.provision()
        front.ses_identities = stack.ses_identities
        rehearsal = Rehearsal(stack, front, bin_dir)
        redirect_management_api(rehearsal, stack, front)
        log(f"stack {STACK}-*-{stack.suffix}: table {stack.make('Table')['Ref']}, "
            f"{len(rehearsal.functions)} functions from {bin_dir}")
        bootstrap_admin(stack, bin_dir, front.url)
        run_flow(rehearsal, stack)
        problems = check_permissions(rehearsal, stack)
        errors = [f"{f.name}: {line}" for f in rehearsal.functions.values() for line in f.error_logs()]
        if problems or errors:
            raise Failure("\n".join(problems + [f"logged an error: {e[:400]}" for e in errors]))
    except Failure as error:
        failure = error
    except KeyboardInterrupt:
        failure = Failure("interrupted")
    except Exception:  # the harness's own bug, or an answer of a shape it did not expect
        failure = Failure(traceback.format_exc())
    finally:
        if rehearsal is not None:
            rehearsal.stop()
        front.shutdown()
        stop_emulator()
    if rehearsal is not None:
        summary(rehearsal, failure is not None)
    if failure is not None:
        print(f"\nREHEARSAL FAILED: {failure}", file=sys.stderr, flush=True)
        return 1
    idle = sorted(name for name, function in rehearsal.functions.items() if not function.events)
    if idle:
        print(f"\nREHEARSAL FAILED: never invoked: {', '.join(idle)}", file=sys.stderr, flush=True)
        return 1
    calls = len(front.calls)
    print(f"\nREHEARSAL PASSED in {time.monotonic() - started:.0f}s ({calls} AWS calls, all allowed by the "
          f"template's policies)", flush=True)
    return 0


def redirect_management_api(r: Rehearsal, stack: Stack, front: AwsFront) -> None:
    """WEBSOCKET_ENDPOINT as the template resolves it must be this stack's WebSocket API and
    stage; it is then pointed at the front's mock of the management API (moto has none)."""
    expected = f"https://{r.ws_api}.execute-api.{REGION}.amazonaws.com/{r.stage}"
    for function in r.functions.values():
        value = function.app_env.get("WEBSOCKET_ENDPOINT")
        if value is None:
            continue
        if value != expected:
            raise Failure(f"{function.name}: WEBSOCKET_ENDPOINT is {value}, not the WebSocket API's "
                          f"management endpoint {expected}")
        function.app_env["WEBSOCKET_ENDPOINT"] = f"{front.url}/{r.stage}"
    front.management_api = (r.ws_api, r.stage)


def check_build_list(stack: Stack) -> None:
    """infra/dev.py's REHEARSAL_BUILD builds every function of the template (and the admin
    command): otherwise a stale binary from an earlier build would be rehearsed."""
    command = dev.REHEARSAL_BUILD
    built = {command[i + 1].split("@")[0] for i, arg in enumerate(command[:-1]) if arg == "-p"}
    missing = sorted((set(stack.functions()) | {"customiseyou-admin"}) - built)
    if missing:
        raise Failure(f"infra/dev.py REHEARSAL_BUILD does not build {missing}: add `-p <crate>` for each")


def ensure_venv_python() -> None:
    """Re-run under the project's .venv (boto3, PyYAML) when started with a bare python3."""
    try:
        import boto3  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        if dev.VENV_PYTHON.exists() and Path(sys.executable).resolve() != dev.VENV_PYTHON.resolve():
            os.execv(str(dev.VENV_PYTHON), [str(dev.VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
        sys.exit("rehearse.py needs boto3 and PyYAML: run `python3 infra/dev.py test` once to create .venv")


if __name__ == "__main__":
    ensure_venv_python()
    sys.exit(main(sys.argv[1:]))
