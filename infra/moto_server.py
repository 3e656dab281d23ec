#!/usr/bin/env python3
"""moto's server, made safe for concurrent clients.

Why this file exists: `moto_server` runs werkzeug with ``threaded=True`` and moto keeps no lock
around request handling, so a conditional write is a plain read-check-write in Python and two
threads can both pass the check (two winners where DynamoDB allows one). Worse,
TransactWriteItems snapshots the whole table (deepcopy) before it starts and, when a condition
fails, puts the snapshot back, silently undoing writes that other threads made meanwhile.

Here every request is handled under one process-wide lock, so each API call is atomic with respect
to every other one, as DynamoDB's conditional writes and transactions are. Connections are still
accepted and parsed on their own threads (many clients may connect at once); only the moto call
itself is serialized. moto is single-threaded Python under the GIL anyway, so this costs little.

Second fix, for speed: moto's TransactWriteItems deep-copies every table it touches before it
starts (its rollback snapshot), so one transaction costs time in proportion to the whole table
(about 40 ms at 1,000 items, 160 ms at 5,000, all of it under the lock). With requests serialized,
a snapshot of just the items the transaction names is equivalent, so that is what is kept; on
failure those items (and the table's stream records) are put back.

Usage (from the project venv):
    .venv/bin/python infra/moto_server.py [--host 127.0.0.1] [--port 0] [--port-file FILE]

--port 0 (the default) lets the kernel pick a free port, with no window for another process to
take it; the port actually bound is written to --port-file (atomically) and printed.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import ThreadedWSGIServer, make_server

# Tests fire a few hundred requests at once; keep them in the accept queue instead of letting the
# kernel drop SYNs (which clients only retry after a second). The kernel caps it at somaxconn.
ThreadedWSGIServer.request_queue_size = 1024


class SerializedApp:
    """WSGI middleware: one request at a time inside moto."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        # Read the request body before taking the lock, so a slow sender does not hold it.
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                n = int(length)
            except ValueError:
                n = 0
            if n > 0:
                environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(n))
        with self.lock:
            result = self.app(environ, start_response)
            try:
                # moto builds whole responses in memory; materialize inside the lock so nothing
                # of moto runs outside it.
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def install_item_level_transaction_rollback() -> None:
    """Make TransactWriteItems snapshot the items it names instead of deep-copying whole tables.

    Only valid because SerializedApp runs one request at a time. Pinned moto version: see
    infra/requirements-dev.txt; check this again when moto is upgraded."""
    import copy
    import types

    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend_cls = ddb_models.DynamoDBBackend
    original = backend_cls.transact_write_items
    in_transaction = threading.local()

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        if getattr(in_transaction, "active", False) and isinstance(obj, Table):
            return obj  # moto's whole-table snapshot: replaced by the item snapshot below
        return copy.deepcopy(obj, memo)

    shim = types.ModuleType("copy")
    shim.__dict__.update(vars(copy))
    shim.deepcopy = deepcopy  # type: ignore[attr-defined]
    ddb_models.copy = shim  # type: ignore[attr-defined]

    def put_back(table: Any, hash_key: Any, range_key: Any, old: Any) -> None:
        if table.range_key_attr is None:
            if old is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = old
            return
        if old is not None:
            table.items[hash_key][range_key] = old
            return
        partition = table.items.get(hash_key)
        if partition is not None:
            partition.pop(range_key, None)
            if not partition:
                del table.items[hash_key]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshot = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            try:
                _, op = next(iter(entry.items()))
                table = self.get_table(op["TableName"])
                key = op["Item"] if "Item" in op else op["Key"]
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = (
                    DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                )
                current = table.get_item(hash_key, range_key)
            except Exception:
                continue  # moto itself rejects this entry before writing anything for it
            snapshot.append((table, hash_key, range_key, copy.deepcopy(current)))
            shard = table.stream_shard
            if shard is not None and id(table) not in streams:
                streams[id(table)] = (shard, len(shard.items))
        in_transaction.active = True
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, old in reversed(snapshot):
                put_back(table, hash_key, range_key, old)
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        finally:
            in_transaction.active = False

    backend_cls.transact_write_items = transact_write_items  # type: ignore[method-assign]


class RequestHandler(MotoRequestHandler):
    quiet = False

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if not self.quiet:
            super().log_request(code, size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument(
        "--stock-transactions",
        action="store_true",
        help="keep moto's own whole-table TransactWriteItems snapshot (slow; for comparison)",
    )
    args = parser.parse_args(argv)

    if not args.stock_transactions:
        install_item_level_transaction_rollback()

    RequestHandler.quiet = args.quiet
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host,
        args.port,
        SerializedApp(app),
        threaded=True,
        request_handler=RequestHandler,
    )
    port = server.server_port
    # moto builds some self-referencing URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"moto (serialized) listening on http://{args.host}:{port}", flush=True)

    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
