#!/usr/bin/env python3
"""A real XMPP client login, for images/test: a c2s stream to DOMAIN, STARTTLS (RFC 6120 5.4),
a new stream over TLS, then SASL PLAIN (RFC 4616) as USER@DOMAIN with PASSWORD, and the server's
verdict: <success/> (exit 0) or <failure/> (exit 1). No answer or an unexpected one exits 3.

    xmpp_login.py HOST PORT DOMAIN USER PASSWORD"""
import base64
import re
import socket
import ssl
import sys

host, port, domain, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
STREAM = ("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" % domain).encode()


def read_until(sock, pattern):
    data = b""
    while not re.search(pattern, data):
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("stream closed after %r" % data[-200:])
        data += chunk
    return data


def login():
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(STREAM)
    read_until(sock, rb"</stream:features>")
    sock.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(sock, rb"<proceed")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the image's certificates are self-signed
    tls = ctx.wrap_socket(sock, server_hostname=domain)
    tls.sendall(STREAM)
    features = read_until(tls, rb"</stream:features>")
    if b">PLAIN<" not in features:
        raise ValueError("no PLAIN mechanism over TLS: %r" % features)
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    tls.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % token).encode())
    verdict = read_until(tls, rb"<success|<failure")
    if b"<success" in verdict:
        print("logged in as %s@%s" % (user, domain))
        return 0
    print("refused: %s" % verdict[verdict.find(b"<failure"):][:200].decode("utf-8", "replace"))
    return 1


try:
    sys.exit(login())
except (OSError, EOFError, ValueError) as e:
    print("no answer: %s" % e)
    sys.exit(3)
