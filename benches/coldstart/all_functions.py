#!/usr/bin/env python3
"""Cold start and size of every function in template.yaml beside two baselines, one command:

    python3 benches/coldstart/all_functions.py [--runs 20] [--no-build]
    python3 benches/coldstart/all_functions.py --check-sizes   # the test command's size budget

Builds (unless --no-build) every function and the baselines the way Lambda runs them
(`cargo build --release`: the workspace's release profile, the template's), then runs each
binary against a mock of the Lambda Runtime API on loopback (AWS_LAMBDA_RUNTIME_API), `runs`
times — round-robin, every binary once per round, so the machine's slow spells fall on all of
them alike — and measures:

- init: spawn → the runtime's first `GET /invocation/next` (everything done at init);
- first answer: spawn → the first invocation answered, for functions whose event needs no
  network (an unauthenticated request, a poison message, a stream record to skip, a $connect
  without a token); the schedule-driven ones (`order-expiry`, `payout-batch`) need the store
  for any work and report init only;
- peak RSS (VmHWM) after the answer (or after init);
- the bootstrap's size and its zip's (deflate, as `cargo lambda` packs it).

`--check-sizes` builds and checks sizes only: every function's zip must be at most
SIZE_BUDGET × `bare-dynamo`'s, or, for a function in OVER_BUDGET, its recorded ceiling (sizes
are stable, so they are a test; times are not, so their budgets live in the report). It exits
non-zero naming each function over.

Baselines: `bare-echo` (lambda_runtime, an echo) and `bare-dynamo` (the same plus an AWS config
loaded and a DynamoDB client built at init). Every figure is also given as a ratio to each.
These are x86-64 builds on this machine (arm64 cannot be linked here without zig); they compare
builds with each other, not with AWS's figures. Prints a Markdown table and writes
target/coldstart/report.json.
"""
import argparse, http.server, io, json, os, socketserver, statistics, subprocess, sys, threading, time, zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

# function → (event kind, detail); every HTTP function gets a request it answers without the
# store (no token where one is needed, or a body it refuses).
FUNCTIONS = {
    "auth": ("http", ("POST", "/auth/login", "{}")),
    "users": ("http", ("GET", "/me", None)),
    "products": ("http", ("GET", "/seller/products", None)),
    "quote": ("http", ("POST", "/quotes", "{}")),
    "orders": ("http", ("GET", "/orders", None)),
    "payment-webhook": ("http", ("POST", "/webhooks/stripe", "{}")),
    "chat": ("http", ("GET", "/conversations", None)),
    "sellers": ("http", ("GET", "/seller/profile", None)),
    "websocket": ("websocket", None),
    "notify-fanout": ("sqs", None),
    "outbox-relay": ("stream", None),
    "order-expiry": ("init", None),
    "payout-batch": ("init", None),
}
BASELINES = ["bare-echo", "bare-dynamo"]
# A function's zip may be at most this many times the DynamoDB-client baseline's.
SIZE_BUDGET = 1.5
# Functions over the budget, each with the ceiling the check holds it to instead (its ratio when
# last measured, rounded up by 0.02) and what stands in the way; docs/PERFORMANCE.md tells the
# whole story. A ceiling only ever comes down: when a function fits the budget, delete its line.
OVER_BUDGET = {
    # aws-sdk-s3 for one presigned PUT: S3's endpoint rules, checksums and client config.
    "products": (1.85, "the S3 SDK, linked for presigning uploads"),
    # The four below link reqwest for the providers' APIs (payments, payouts, Twilio/FCM):
    # its client, TLS glue and rustls-platform-verifier beside the SDK's own HTTP stack.
    "orders": (1.76, "reqwest and the three payment providers' adapters"),
    "payment-webhook": (1.63, "reqwest (PayPal's certificates) and x509 parsing"),
    "sellers": (1.61, "reqwest and the payout providers' adapters"),
    "notify-fanout": (1.66, "reqwest (Twilio, FCM), the SES SDK and the mail templates"),
}

ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
    "TABLE_NAME": "bench", "JWT_SECRET": "x" * 40, "QUOTE_SECRET": "y" * 40,
    "DATA_KEY": "dGVzdC1kYXRhLWtleS10ZXN0LWRhdGEta2V5LTAxMjM=", "PAYMENT_SIMULATOR_SECRET": "z" * 40,
    "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true", "RUST_LOG": "warn",
    "WEBSOCKET_ENDPOINT": "https://abc.execute-api.us-east-1.amazonaws.com/v1",
    "ORDER_EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:events",
    "MAIL_FROM": "no-reply@customiseyou.example", "PAYOUT_PROVIDER": "simulator",
    "UPLOADS_BUCKET": "bench-uploads", "STRIPE_WEBHOOK_SECRET": "whsec_" + "x" * 32,
    "RAZORPAY_WEBHOOK_SECRET": "r" * 32, "PAYPAL_WEBHOOK_ID": "WH-BENCH",
}


def http_event(method, path, body):
    event = json.loads((EVENTS / "users-get-me.json").read_text())
    event["resource"] = event["path"] = path
    event["httpMethod"] = method
    event["requestContext"].update({"path": "/v1" + path, "resourcePath": path, "httpMethod": method})
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Authorization", None)
    if body is not None:
        event["body"] = body
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    return json.dumps(event).encode()


def template_functions():
    """The crates template.yaml deploys (`CodeUri: target/lambda/<crate>/`)."""
    import re
    return set(re.findall(r"CodeUri:\s*target/lambda/([\w-]+)/", (ROOT / "template.yaml").read_text()))


def event_for(kind, detail):
    if kind == "http":
        return http_event(*detail)
    if kind == "websocket":
        event = json.loads((EVENTS / "websocket-connect.json").read_text())
        event["queryStringParameters"] = None
        event["multiValueQueryStringParameters"] = None
        return json.dumps(event).encode()
    if kind == "sqs":
        event = json.loads((EVENTS / "notify-fanout-order-events.json").read_text())
        event["Records"] = event["Records"][:1]
        event["Records"][0]["body"] = '{"not": "an event"}'
        return json.dumps(event).encode()
    if kind == "stream":
        event = json.loads((EVENTS / "outbox-relay-stream.json").read_text())
        for record in event["Records"]:
            record["eventName"] = "REMOVE"
        return json.dumps(event).encode()
    return json.dumps({"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
                       "account": "123456789012", "time": "2026-12-01T00:30:00Z", "region": "us-east-1",
                       "resources": [], "detail": {}}).encode()


class State:
    event = b""
    next_at = None
    answered = None
    served = False


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            return
        if State.next_at is None:
            State.next_at = time.perf_counter()
        if State.served:
            time.sleep(30)
            return
        State.served = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-0-0")
        self.send_header("Content-Length", str(len(State.event)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(State.event)

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if "/response" in self.path or "/error" in self.path:
            State.answered = (time.perf_counter(), body)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def peak_rss(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def sample(binary, event, wait_answer, port):
    """One spawn of `binary` answered: (init ms, answer ms or None, peak RSS MB, answer bytes).
    A spawn the harness misses (rare) is retried, up to 5 times."""
    State.event = event
    env = dict(os.environ, **ENV, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}")
    for _ in range(5):
        State.answered, State.served, State.next_at = None, False, None
        start = time.perf_counter()
        p = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = start + 10
        while time.perf_counter() < deadline and p.poll() is None:
            if (State.answered if wait_answer else State.next_at) is not None:
                break
            time.sleep(0.0002)
        done = State.answered if wait_answer else State.next_at
        if done is None:
            p.kill()
            p.wait()
            continue
        init = (State.next_at - start) * 1000
        answer = (State.answered[0] - start) * 1000 if wait_answer else None
        body = State.answered[1] if wait_answer else b""
        rss = peak_rss(p.pid)
        p.kill()
        p.wait()
        return init, answer, rss, body
    sys.exit(f"{binary}: five spawns in a row were not answered")


def stats(xs):
    xs = sorted(xs)
    return {"median": round(statistics.median(xs), 2), "p90": round(xs[max(0, int(0.9 * len(xs)) - 1)], 2)} if xs else None


def sizes(binary):
    data = binary.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
    return {"bootstrap_mb": round(len(data) / 1e6, 2), "zip_mb": round(len(buffer.getvalue()) / 1e6, 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--check-sizes", action="store_true")
    args = parser.parse_args()
    names = list(FUNCTIONS) + BASELINES
    if not args.no_build:
        cmd = ["cargo", "build", "--release"] + [a for n in names for a in ("-p", f"{n}@0.1.0" if n == "quote" else n)]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
    if args.check_sizes:
        base = sizes(ROOT / "target" / "release" / "bare-dynamo")["zip_mb"]
        over = []
        for name in FUNCTIONS:
            zipped = sizes(ROOT / "target" / "release" / name)["zip_mb"]
            ratio, (ceiling, why) = zipped / base, OVER_BUDGET.get(name, (SIZE_BUDGET, None))
            note = f"over the {SIZE_BUDGET}x budget, held to its ceiling {ceiling}x: {why}" if why else f"budget {SIZE_BUDGET}x"
            print(f"{name}: zip {zipped} MB = {ratio:.2f}x bare-dynamo's {base} MB ({note})")
            if ratio > ceiling:
                over.append(f"{name} ({ratio:.2f}x > {ceiling}x)")
            elif why and ratio <= SIZE_BUDGET:
                over.append(f"{name} now fits the {SIZE_BUDGET}x budget ({ratio:.2f}x): remove it from OVER_BUDGET")
            elif why and ratio < ceiling - 0.05:
                over.append(f"{name} shrank to {ratio:.2f}x: lower its ceiling ({ceiling}x) in OVER_BUDGET")
        missing = template_functions() - set(FUNCTIONS)
        if missing:
            over.append(f"functions of template.yaml this check does not know: {', '.join(sorted(missing))}")
        if over:
            sys.exit(f"size budget: {'; '.join(over)}")
        return
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    # Round-robin: each round spawns every binary once, so a slow spell of the (shared, noisy)
    # machine falls on all of them alike instead of on whichever was being measured.
    events = {}
    for name in names:
        kind, detail = FUNCTIONS.get(name, ("sqs", None))
        events[name] = (event_for(kind, detail) if name in FUNCTIONS else b'{"hello": "world"}', kind != "init")
    samples = {name: [] for name in names}
    for _ in range(args.runs):
        for name in names:
            event, wait_answer = events[name]
            samples[name].append(sample(ROOT / "target" / "release" / name, event, wait_answer, port))
    report = {}
    for name in names:
        runs = samples[name]
        result = {"init_ms": stats([r[0] for r in runs]), "answer_ms": stats([r[1] for r in runs if r[1] is not None]),
                  "peak_rss_mb": round(statistics.median([r[2] for r in runs if r[2]]), 1),
                  "answer": runs[-1][3][:100].decode(errors="replace")}
        result.update(sizes(ROOT / "target" / "release" / name))
        report[name] = result
        print(name, json.dumps(result), flush=True)
    base = {b: report[b] for b in BASELINES}
    lines = ["| function | init median (p90) ms | first answer median (p90) ms | × bare-echo | × bare-dynamo | peak RSS MB | bootstrap MB | zip MB | zip × bare-dynamo |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        r = report[name]
        key = "answer_ms" if r["answer_ms"] else "init_ms"
        t = r[key]["median"]
        ratio = lambda b: f"{t / base[b][key]['median']:.2f}"
        answer = f"{r['answer_ms']['median']} ({r['answer_ms']['p90']})" if r["answer_ms"] else "—"
        lines.append(f"| `{name}` | {r['init_ms']['median']} ({r['init_ms']['p90']}) | {answer} | {ratio('bare-echo')} | {ratio('bare-dynamo')} | "
                     f"{r['peak_rss_mb']} | {r['bootstrap_mb']} | {r['zip_mb']} | {r['zip_mb'] / base['bare-dynamo']['zip_mb']:.2f} |")
    print("\n".join(lines))
    out = ROOT / "target" / "coldstart"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
