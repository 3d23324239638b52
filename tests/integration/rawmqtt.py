"""MQTT 3.1.1 packets as bytes, for tests that send what a client library would not
(floods on one socket, hostile CONNECTs). Imported by the integration tests' Python parts."""
import socket
import struct


def s(b):
    """A length-prefixed string."""
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    """A packet: its first byte, the remaining length, the body."""
    n, rl = len(body), b""
    while True:
        d = n % 128
        n //= 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + rl + body


def connect(cid, user=None, pw=None, keepalive=30):
    """CONNECT with clean session, and a user name and password when given."""
    flags = 0x02 | (0x80 if user is not None else 0) | (0x40 if pw is not None else 0)
    body = s(b"MQTT") + bytes([4, flags]) + struct.pack(">H", keepalive) + s(cid)
    body += (s(user) if user is not None else b"") + (s(pw) if pw is not None else b"")
    return packet(0x10, body)


def connack(port, cid, user=None, pw=None):
    """Connects and returns (socket, CONNACK return code); None for the code when closed."""
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(connect(cid, user, pw))
    r = c.recv(4)
    return c, (r[3] if len(r) == 4 and r[:2] == b"\x20\x02" else None)
