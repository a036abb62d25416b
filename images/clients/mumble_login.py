#!/usr/bin/env python3
"""A real Mumble client login, for images/test: TLS, Version, Authenticate (protocol 1.3), then
the server's verdict: ServerSync (in: exit 0) or Reject (exit 1, reason printed). The protobuf
messages are encoded by hand (4 fields) so that the test needs nothing but Python's standard library.

    mumble_login.py HOST PORT USER PASSWORD [EXPECTED_WELCOME_TEXT]

With EXPECTED_WELCOME_TEXT, a login whose ServerSync carries another welcome text exits 2;
no verdict (connection refused or closed, TLS error) exits 3."""
import socket, ssl, struct, sys

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data

def field_int(num, n):
    return varint(num << 3) + varint(n)

def parse(payload):
    fields, i = {}, 0
    while i < len(payload):
        key, i = read_varint(payload, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = read_varint(payload, i)
        elif wt == 2:
            ln, i = read_varint(payload, i)
            val, i = payload[i:i + ln], i + ln
        elif wt == 1:
            val, i = payload[i:i + 8], i + 8
        elif wt == 5:
            val, i = payload[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        fields.setdefault(num, val)
    return fields

def read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]; i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
expected_welcome = sys.argv[5].encode() if len(sys.argv) > 5 else None
def login():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(socket.create_connection((host, port), timeout=5))
    def send(t, payload):
        s.sendall(struct.pack(">HI", t, len(payload)) + payload)
    send(0, field_int(1, 0x10300) + field_bytes(2, b"pidone-test") + field_bytes(3, b"Linux"))
    send(2, field_bytes(1, user.encode()) + field_bytes(2, password.encode()) + field_int(5, 1))
    buf = b""
    def recv_exact(n):
        nonlocal buf
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            buf += d
        out, buf = buf[:n], buf[n:]
        return out
    while True:
        t, ln = struct.unpack(">HI", recv_exact(6))
        p = recv_exact(ln)
        if t == 4:
            f = parse(p)
            print("rejected type=%s reason=%s" % (f.get(1), f.get(2, b"").decode("utf-8", "replace")))
            sys.exit(1)
        if t == 5:
            f = parse(p)
            welcome = f.get(3, b"")
            if expected_welcome is not None and welcome != expected_welcome:
                print("logged in, but the welcome text is %r (want %r)" % (welcome, expected_welcome))
                sys.exit(2)
            print("logged in")
            sys.exit(0)


try:
    login()
except (OSError, EOFError, ValueError) as e:
    # no verdict from the server: neither a login nor a refusal
    print("no answer: %s" % e)
    sys.exit(3)
