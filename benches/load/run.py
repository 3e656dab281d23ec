#!/usr/bin/env python3
"""A load run of `customiseyou-local` beside a bare axum hello-world, one command:

    python3 benches/load/run.py [--duration 10] [--no-build] [--order-from items|quote] [--taskset CPUS]

1. Installs wrk if it is not on PATH (`apt-get install -y wrk`, sudo only when not root;
   `apt-get update` and again only if that fails).
2. Unless --no-build: `cargo build --release -p customiseyou-local -p bare-axum`. Then starts
   target/release/customiseyou-local on a free port with a fresh data dir (demo data on), and
   target/release/bare-axum on another; both the same way (stdout to a log file, the same
   environment, pinned with `taskset -c CPUS` only when --taskset is given, both alike).
3. Prepares through the API only: signs in as the demo customer, finds (or adds) an address,
   picks an active product whose required options need no upload and builds valid
   customisations from its options, signs in as the demo seller and raises the product's stock
   to the most a product may hold (1,000,000, `PATCH /seller/products/{id}` with `stock_delta`),
   and checks one request of each kind answers as the contract says (200, 200, 201).
4. Writes wrk Lua scripts: the same `done()` reporter for every target (exact percentiles and
   error counts as one JSON line); POST /quotes with a fixed body and bearer token; POST /orders
   with a unique `Idempotency-Key` per request (run id, wrk thread id from `setup`, counter), so
   every request places a real new order: stock reserved, an unpaid slot counted, the payment
   opened with the simulated provider, two durable commits.
5. Runs `wrk -t2 -c16 -d{duration}s --latency` (after a --warmup run of each target, not
   counted) against bare-axum `GET /`, then `GET /products/{id}`, `POST /quotes`, `POST /orders`;
   prints a Markdown table (requests/s, p50, p99, errors, throughput × bare) and the goals
   (issue 13: `GET /products/{id}` ≥ 50 % of bare's throughput; `POST /orders` p99 ≤ 5 ms), and
   writes target/load/report.json.
6. Stops both servers (also on Ctrl-C, SIGTERM or an error).

Exit status: 0 when every target answered only 2xx (goals met or not: this is a report);
1 when a target had non-2xx answers or socket errors (their throughput means nothing), or
anything in the set-up failed.

The runtime's one limit that load meets: a customer may hold `MAX_UNPAID_ORDERS` unpaid orders
(default 5; every order placed here stays unpaid), so the runtime is started with
`MAX_UNPAID_ORDERS` = ORDER_SLOTS — its documented environment switch, nothing else changed.
"""
import argparse, datetime, json, os, platform, secrets, shutil, signal, socket, subprocess, sys, tempfile
import time, urllib.error, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "target" / "release"
REPORT = ROOT / "target" / "load" / "report.json"
DEMO_CUSTOMER = ("customer@demo.customiseyou.local", "demo-customer-pass")  # infra/local/src/demo.rs
DEMO_SELLER = ("seller@demo.customiseyou.local", "demo-seller-pass")
MAX_STOCK = 1_000_000  # cy_domain::product::MAX_STOCK: the most one product may hold
ORDER_SLOTS = 100_000_000  # MAX_UNPAID_ORDERS for the run: every order placed stays unpaid
PRODUCTS_GOAL = 0.5  # GET /products/{id} ≥ 50 % of the bare server's throughput
ORDERS_P99_GOAL_MS = 5.0  # POST /orders p99 ≤ 5 ms


def log(*parts):
    print(*parts, flush=True)


# ---------------------------------------------------------------------------- wrk, the build

def ensure_wrk():
    found = shutil.which("wrk")
    if found:
        log(f"wrk: {found}")
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = sudo + ["apt-get", "install", "-y", "wrk"]
    log(f"wrk is not on PATH: {' '.join(install)}")
    if subprocess.run(install, env=env).returncode != 0:
        log(f"the install failed: {' '.join(sudo + ['apt-get', 'update'])}, then the install again")
        subprocess.run(sudo + ["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is still not on PATH after installing it")
    return found


def build():
    command = ["cargo", "build", "--release", "-p", "customiseyou-local", "-p", "bare-axum"]
    log("$ " + " ".join(command))
    subprocess.run(command, cwd=ROOT, check=True)


# ---------------------------------------------------------------------------- the servers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """Both servers, started the same way and always stopped."""

    def __init__(self, workdir, taskset):
        self.workdir, self.taskset, self.procs = workdir, taskset, {}

    def start(self, name, argv, env):
        prefix = ["taskset", "-c", self.taskset] if self.taskset else []
        logfile = open(self.workdir / f"{name}.log", "wb")
        log(f"starting {name}: {' '.join(prefix + [str(a) for a in argv])}")
        proc = subprocess.Popen(prefix + [str(a) for a in argv], env=env, stdout=logfile,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = (proc, logfile)
        return proc

    def wait_ready(self, name, url, timeout=90):
        proc = self.procs[name][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before answering:\n{self.tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer {url} within {timeout} s:\n{self.tail(name)}")

    def tail(self, name, lines=20):
        try:
            return "\n".join((self.workdir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop_all(self):
        for name, (proc, logfile) in self.procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            logfile.close()
            log(f"stopped {name} (pid {proc.pid}, exit {proc.returncode})")
        self.procs = {}


# ---------------------------------------------------------------------------- the API

class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, body=None, token=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def expect(self, status, method, path, body=None, token=None, headers=None):
        got, answer = self.call(method, path, body, token, headers)
        if got != status:
            raise RuntimeError(f"{method} {path}: expected {status}, got {got}: {json.dumps(answer)[:800]}")
        return answer

    def login(self, email, password):
        return self.expect(200, "POST", "/auth/login", {"email": email, "password": password})["access_token"]


def customisations(options):
    """Valid values for every required option; None if one needs an upload (an image)."""
    values = {}
    for option in options:
        if not option.get("required"):
            continue
        kind = option["kind"]
        if kind == "text":
            allowed = option.get("allowed")
            text = "2024" if allowed == "digits" else "ASHA"
            values[option["id"]] = text[: max(1, option.get("max_length") or len(text))]
        elif kind == "choice":
            first = option["choices"][0]["id"]
            values[option["id"]] = [first] if option.get("multi") else first
        elif kind == "number":
            values[option["id"]] = option["min"]
        else:
            return None
    return values


def prepare(api):
    """The customer, their address, the product (stocked), and the two request bodies."""
    customer = api.login(*DEMO_CUSTOMER)
    addresses = api.expect(200, "GET", "/me/addresses", token=customer)["items"]
    if not addresses:
        log("the demo customer has no address: adding one")
        addresses = [api.expect(201, "POST", "/me/addresses", {
            "name": "Load Run", "line1": "12 MG Road", "city": "Bengaluru", "state": "Karnataka",
            "postal_code": "560001", "country": "IN"}, token=customer)]
    address_id = addresses[0]["id"]
    products = api.expect(200, "GET", "/products?limit=100")["items"]
    chosen = None
    for listed in products:
        page = api.expect(200, "GET", f"/products/{listed['id']}")
        values = customisations(page.get("options", []))
        if page.get("status") == "active" and values is not None:
            chosen = (page, values)
            break
    if chosen is None:
        raise RuntimeError("no active product whose required options need no upload (the demo mug was expected)")
    product, values = chosen
    log(f"product: {product['id']} {product['title']!r}, stock {product['stock']}, customisations {values}")
    if product["stock"] < MAX_STOCK:
        seller = api.login(*DEMO_SELLER)
        delta = MAX_STOCK - product["stock"]
        edited = api.expect(200, "PATCH", f"/seller/products/{product['id']}",
                            {"version": product["version"], "stock_delta": delta}, token=seller)
        log(f"stock raised by {delta} as the demo seller: now {edited['stock']} (status {edited['status']})")
        if edited["status"] != "active":
            raise RuntimeError(f"the product is {edited['status']} after the stock change")
    items = [{"product_id": product["id"], "quantity": 1, "customizations": values}]
    quote_body = {"items": items, "address_id": address_id}
    return {"product_id": product["id"], "address_id": address_id, "quote_body": quote_body, "items": items}


def order_body(api, token, prepared, order_from):
    """`items`: each order priced afresh (the criterion bench's body). `quote`: one quote's token
    for every order — the API charges each exactly the quoted total while the token lives (15
    min), and each request's own Idempotency-Key makes it a new order."""
    if order_from == "items":
        return {"items": prepared["items"], "address_id": prepared["address_id"], "payment_provider": "stripe"}
    quote = api.expect(200, "POST", "/quotes", prepared["quote_body"], token=token)
    return {"quote_token": quote["quote_token"], "address_id": prepared["address_id"], "payment_provider": "stripe"}


# ---------------------------------------------------------------------------- wrk scripts and runs

DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p75_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, ' ..
    '"mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""


def lua_string(text):
    if "]==]" in text:
        raise ValueError("cannot quote this text as a Lua long string")
    return "[==[" + text + "]==]"


def write_get_script(scripts):
    path = scripts / "get.lua"
    path.write_text("-- a plain GET, as wrk sends it\n" + DONE)
    return path


def write_quotes_script(scripts, token, quote_body):
    path = scripts / "quotes.lua"
    path.write_text(f"""-- POST /quotes: one body, the customer's token
wrk.method = "POST"
wrk.body = {lua_string(json.dumps(quote_body))}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {lua_string("Bearer " + token)}
""" + DONE)
    return path


def write_orders_script(scripts, token, placed_body, run_id):
    path = scripts / "orders.lua"
    path.write_text(f"""-- POST /orders: every request a new order, by its own Idempotency-Key
-- ("<run id>-<phase>-<thread>-<counter>": unique across threads, the warm-up and the run)
wrk.method = "POST"
wrk.body = {lua_string(json.dumps(placed_body))}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {lua_string("Bearer " + token)}

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local prefix, counter = nil, 0
function init(args)
  prefix = {lua_string(run_id)} .. "-" .. args[1] .. "-" .. thread_id .. "-"
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. counter
  return wrk.format()
end
""" + DONE)
    return path


def run_wrk(wrk, script, url, args, duration, phase):
    command = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency", "-s", str(script),
               url, "--", phase]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    line = next((l for l in done.stdout.splitlines() if l.startswith("WRK_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}{done.stderr}")
    result = json.loads(line[len("WRK_RESULT "):])
    seconds = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds if seconds else 0.0
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    result["command"] = " ".join(command[:-2])
    result["output"] = done.stdout.replace(line + "\n", "")
    return result


def status_sample(api, target, auth):
    """After a target had errors: one more request of its kind, to show what the server answers."""
    path, method = target["path"], target["method"]
    if method == "GET":
        return api.call("GET", path)
    token, body = auth
    headers = {"Idempotency-Key": "sample-" + secrets.token_hex(8)} if target["name"] == "orders" else None
    return api.call(method, path, body, token, headers)


# ---------------------------------------------------------------------------- the report

def ms(us):
    return us / 1000.0


def table(results):
    bare = results[0]["rps"]
    rows = ["| target | requests/s | p50 ms | p99 ms | errors | throughput × bare |", "|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['label']} | {r['rps']:,.0f} | {ms(r['p50_us']):.2f} | {ms(r['p99_us']):.2f} | "
                    f"{r['errors']} | {r['rps'] / bare:.2f} |")
    return "\n".join(rows)


def machine():
    model = ""
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release()}


def interrupted(signum, frame):
    raise KeyboardInterrupt()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per target (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load before each target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    parser.add_argument("--order-from", choices=["items", "quote"], default="items",
                        help="POST /orders body: items priced per order (default), or one quote's token reused")
    parser.add_argument("--taskset", metavar="CPUS", help="pin both servers with taskset -c CPUS (default: no pinning)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary dir (data, logs, Lua scripts)")
    args = parser.parse_args()
    if args.duration < 1 or args.duration + args.warmup > 600:
        sys.exit("--duration must be 1..600 s with the warm-up (tokens and quotes live 15 minutes)")

    # SIGTERM ends the run like Ctrl-C: the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, interrupted)
    wrk = ensure_wrk()
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    wrk_version = (wrk_version.stdout + wrk_version.stderr).splitlines()[0].strip()
    if not args.no_build:
        build()
    for binary in ("customiseyou-local", "bare-axum"):
        if not (RELEASE / binary).exists():
            sys.exit(f"{RELEASE / binary} is missing: run without --no-build")

    workdir = Path(tempfile.mkdtemp(prefix="cy-load-"))
    servers = Servers(workdir, args.taskset)
    failed = True
    try:
        local_port, bare_port = free_port(), free_port()
        env = dict(os.environ)
        local_env = dict(env, MAX_UNPAID_ORDERS=str(ORDER_SLOTS))
        servers.start("customiseyou-local", [RELEASE / "customiseyou-local", "--port", local_port,
                                             "--data-dir", workdir / "data"], local_env)
        servers.start("bare-axum", [RELEASE / "bare-axum", bare_port], env)
        local, bare = f"http://127.0.0.1:{local_port}", f"http://127.0.0.1:{bare_port}"
        servers.wait_ready("customiseyou-local", local + "/health")
        servers.wait_ready("bare-axum", bare + "/")
        log(f"ready: customiseyou-local {local} (data in {workdir / 'data'}), bare-axum {bare}")

        api = Api(local)
        prepared = prepare(api)
        token = api.login(*DEMO_CUSTOMER)
        quote_body = prepared["quote_body"]
        placed_body = order_body(api, token, prepared, args.order_from)
        # One request of each kind, answered as the contract says, before any load.
        api.expect(200, "GET", f"/products/{prepared['product_id']}")
        api.expect(200, "POST", "/quotes", quote_body, token=token)
        check = api.expect(201, "POST", "/orders", placed_body, token=token,
                           headers={"Idempotency-Key": "load-check-" + secrets.token_hex(8)})
        log(f"checked: GET /products/{{id}} 200, POST /quotes 200, POST /orders 201 "
            f"({check['order']['id']}, {check['order']['status']}, total {check['order']['total']})")

        run_id = secrets.token_hex(6)
        scripts = workdir / "lua"
        scripts.mkdir()

        # Each authenticated target signs in afresh (access tokens live 15 minutes; four
        # customer sign-ins in all, under the ten per 15 minutes allowed) and, ordering from a
        # quote, gets a fresh quote (they live 15 minutes too).
        def quotes_script():
            return write_quotes_script(scripts, api.login(*DEMO_CUSTOMER), quote_body), None

        def orders_script():
            fresh = api.login(*DEMO_CUSTOMER)
            body = order_body(api, fresh, prepared, args.order_from)
            return write_orders_script(scripts, fresh, body, run_id), (fresh, body)

        get_script = write_get_script(scripts)
        targets = [
            {"name": "bare", "label": "bare-axum `GET /`", "method": "GET", "path": "/", "base": bare,
             "script": lambda: (get_script, None)},
            {"name": "product", "label": "`GET /products/{id}`", "method": "GET",
             "path": f"/products/{prepared['product_id']}", "base": local, "script": lambda: (get_script, None)},
            {"name": "quotes", "label": "`POST /quotes`", "method": "POST", "path": "/quotes", "base": local,
             "script": quotes_script},
            {"name": "orders", "label": f"`POST /orders` ({args.order_from})", "method": "POST", "path": "/orders",
             "base": local, "script": orders_script},
        ]
        results, errors = [], []
        for target in targets:
            url = target["base"] + target["path"]
            script, auth = target["script"]()
            if args.warmup:
                warm = run_wrk(wrk, script, url, args, args.warmup, "warmup")
                if warm["errors"]:
                    log(f"  warm-up of {target['label']}: {warm['errors']} errors")
            log(f"wrk {target['label']}: -t{args.threads} -c{args.connections} -d{args.duration}s")
            result = run_wrk(wrk, script, url, args, args.duration, "measured")
            result.update(name=target["name"], label=target["label"], url=url)
            results.append(result)
            log(f"  {result['rps']:,.0f} requests/s, p50 {ms(result['p50_us']):.2f} ms, "
                f"p99 {ms(result['p99_us']):.2f} ms, {result['requests']} requests, {result['errors']} errors")
            if result["errors"]:
                status, answer = status_sample(api, target, auth or (token, quote_body))
                result["sample_after_errors"] = {"status": status, "body": answer}
                errors.append(f"{target['label']}: {result['errors']} errors (non-2xx {result['status']}, "
                              f"socket {result['errors'] - result['status']}); one more request now answers "
                              f"{status}: {json.dumps(answer)[:300]}")
        stock_after = api.expect(200, "GET", f"/products/{prepared['product_id']}")["stock"]

        product, orders = results[1], results[3]
        ratio = product["rps"] / results[0]["rps"]
        goals = {
            "products_throughput_ratio": {"value": round(ratio, 3), "goal": f">= {PRODUCTS_GOAL}",
                                          "met": ratio >= PRODUCTS_GOAL},
            "orders_p99_ms": {"value": round(ms(orders["p99_us"]), 3), "goal": f"<= {ORDERS_P99_GOAL_MS}",
                              "met": ms(orders["p99_us"]) <= ORDERS_P99_GOAL_MS},
        }
        print()
        print(f"{datetime.date.today()}, wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency "
              f"(warm-up {args.warmup} s each), {os.cpu_count()} CPUs shared by wrk and the servers"
              + (f", servers pinned to CPUs {args.taskset}" if args.taskset else "") + ":")
        print()
        print(table(results))
        print()
        print(f"- `GET /products/{{id}}` ≥ 50 % of bare's throughput: {ratio * 100:.1f} % — "
              + ("met" if goals["products_throughput_ratio"]["met"] else "NOT met"))
        print(f"- `POST /orders` p99 ≤ {ORDERS_P99_GOAL_MS:g} ms: {ms(orders['p99_us']):.2f} ms — "
              + ("met" if goals["orders_p99_ms"]["met"] else "NOT met"))
        print(f"- orders placed in the measured run: {orders['requests'] - orders['status']}; "
              f"stock left {stock_after} of {MAX_STOCK}")

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        fs = subprocess.run(["stat", "-f", "-c", "%T", str(workdir)], capture_output=True, text=True)
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        REPORT.write_text(json.dumps({
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "commit": commit.stdout.strip(),
            "machine": dict(machine(), data_dir_filesystem=fs.stdout.strip()),
            "wrk": wrk_version,
            "settings": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration,
                         "warmup_s": args.warmup, "order_from": args.order_from, "taskset": args.taskset,
                         "MAX_UNPAID_ORDERS": ORDER_SLOTS},
            "product_id": prepared["product_id"], "stock_after": stock_after,
            "results": [{k: v for k, v in r.items()} for r in results],
            "goals": goals,
            "errors": errors,
        }, indent=2) + "\n")
        log(f"\nwrote {REPORT.relative_to(ROOT)}")
        if errors:
            log("\nFAILED: a target answered errors; its throughput means nothing:")
            for e in errors:
                log("  " + e)
            return 1
        failed = False
        return 0
    except KeyboardInterrupt:
        log("\ninterrupted")
        failed = False  # nothing to look into: no log tails, the temporary dir goes
        return 130
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        log(f"\nERROR: {e}")
        return 1
    finally:
        servers.stop_all()
        if failed:
            for name in ("customiseyou-local", "bare-axum"):
                tail = servers.tail(name)
                if tail:
                    log(f"--- last lines of {name}'s log ---\n{tail}")
        if args.keep or failed:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
