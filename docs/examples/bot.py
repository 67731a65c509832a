#!/usr/bin/env python3
"""A chive bot in Python, standard library only, against the daemon's
JSON-RPC socket (docs/api.md): it answers "ping" with "pong", "roll" with a
die, and anything else with what it heard.

    CHIVE_HOME=~/.local/share/chive python3 bot.py

One connection subscribes to the daemon's events; a second one sends the
replies. The reply's idempotency key is the message id, so the same message
is never answered twice. Exits 1 when the daemon stops (run it under a
supervisor, or in a loop).
"""
import itertools
import json
import os
import random
import socket
import sys


def socket_path():
    home = os.environ.get("CHIVE_HOME")
    if not home:
        data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        home = os.path.join(data, "chive")
    return os.path.join(home, "chive.sock")


class Conn:
    """One JSON-RPC connection: a JSON object per line, both ways."""

    ids = itertools.count(1)

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rwb")

    def write(self, method, params=None):
        req = {"jsonrpc": "2.0", "id": next(Conn.ids), "method": method}
        if params is not None:
            req["params"] = params
        self.file.write(json.dumps(req).encode() + b"\n")
        self.file.flush()
        return req["id"]

    def read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("the daemon closed the connection")
        return json.loads(line)

    def call(self, method, params=None):
        """A request and its answer (this connection carries no events)."""
        rid = self.write(method, params)
        while True:
            msg = self.read()
            if msg.get("id") == rid:
                if "error" in msg:
                    raise RuntimeError(msg["error"]["message"])
                return msg["result"]


def answer(text):
    if text.strip().lower() == "ping":
        return "pong"
    if text.strip().lower() == "roll":
        return "🎲 %d" % random.randint(1, 6)
    return "python bot heard: " + text


def main():
    path = socket_path()
    events, requests = Conn(path), Conn(path)
    events.call("subscribe")
    print("bot running on", path, file=sys.stderr, flush=True)
    while True:
        try:
            msg = events.read()
        except EOFError:
            print("the daemon stopped", file=sys.stderr)
            return 1
        if msg.get("method") != "event" or msg["params"]["kind"] != "message":
            continue
        m = msg["params"]["data"]["message"]
        if m["direction"] != "in":
            continue  # our own replies come back as events too
        try:
            requests.call("send", {"contact": m["address"], "text": answer(m["text"]),
                                   "idempotency_key": "py-reply-" + m["id"]})
        except RuntimeError as e:
            print("reply not sent:", e, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
