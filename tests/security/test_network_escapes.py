"""Escape attempts against network mode allow (--net allow:DOMAIN,...).
Every one of them must fail: the only way out of the sandbox is the proxy's
bridge on 127.0.0.1:3128 and :1080, and the proxy refuses everything the
allowlist does not cover. The servers are the test's own, on the host's
loopback; names are mapped with --add-host; no traffic leaves the machine.
Runs as root and as an unprivileged user (scripts/test.sh runs both); the
docker attempts use the engine from scripts/docker-up.sh."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import uuid

import pytest

# The servers and helpers of the integration tests (tests/integration/test_network.py).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from test_network import (  # noqa: E402
    BODY, WebServer, children_named, curl, gone, net_flags, net_run, proxy_base, raw_answers,
    raw_requests, recorder, run_sockets, shcurl, socks5, status_of, web,
)

from conftest import HUTCH  # noqa: E402
from helpers import exec_result, wait_for  # noqa: E402

CANARY = "hutch-net-canary-" + uuid.uuid4().hex

# A probe run in the sandbox: tries each target directly (no proxy) and
# prints "NAME RESULT" with RESULT "connected", "sent" or the errno name.
DIRECT = r"""
import errno, json, socket, sys
def name(e):
    return errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__
for label, family, kind, host, port in json.loads(sys.argv[1]):
    s = socket.socket(getattr(socket, family), getattr(socket, kind))
    s.settimeout(5)
    try:
        if kind == "SOCK_STREAM":
            s.connect((host, port))
            print(label, "connected")
        else:
            s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00"
                     b"\x00\x01\x00\x01", (host, port))
            s.recv(512)
            print(label, "answered")
    except OSError as e:
        print(label, name(e))
    s.close()
"""


def host_addresses():
    """The host's own non-loopback IPv4 addresses (from the routing table,
    without sending anything)."""
    found, last = set(), None
    try:
        lines = pathlib.Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        line = line.strip()
        if line.startswith("|--"):
            last = line[3:].strip()
        elif "/32 host LOCAL" in line and last and not last.startswith("127."):
            found.add(last)
    return sorted(found)


@pytest.fixture
def wide_web(tmp_path):
    """An HTTP server on every host address (0.0.0.0), ephemeral port."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text(BODY + "\n")
    server = WebServer(root, bind="0.0.0.0")
    yield server
    server.close()


def direct_targets(port):
    targets = [("loopback", "AF_INET", "SOCK_STREAM", "127.0.0.1", port),
               ("loopback6", "AF_INET6", "SOCK_STREAM", "::1", port),
               ("private", "AF_INET", "SOCK_STREAM", "10.0.0.1", 80),
               ("docker-gateway", "AF_INET", "SOCK_STREAM", "172.17.0.1", port),
               ("metadata", "AF_INET", "SOCK_STREAM", "169.254.169.254", 80),
               ("metadata6", "AF_INET6", "SOCK_STREAM", "fd00:ec2::254", 80),
               ("public", "AF_INET", "SOCK_STREAM", "192.0.2.1", 80),
               ("dns-tcp", "AF_INET", "SOCK_STREAM", "8.8.8.8", 53),
               ("dns-udp", "AF_INET", "SOCK_DGRAM", "8.8.8.8", 53),
               ("dns6-udp", "AF_INET6", "SOCK_DGRAM", "2001:4860:4860::8888", 53)]
    targets += [(f"host-{a}", "AF_INET", "SOCK_STREAM", a, port) for a in host_addresses()]
    return targets


def check_direct(lines, targets):
    got = dict(line.split(" ", 1) for line in lines)
    assert set(got) == {t[0] for t in targets}, lines
    for label, value in got.items():
        expected = {"ECONNREFUSED"} if label.startswith("loopback") else {"ENETUNREACH"}
        assert value in expected, (label, value, lines)


def test_direct_connections_around_the_proxy_fail(hutch, wide_web):
    """A program that ignores the proxy settings: the host's server on its
    loopback and every host address, private, metadata and public addresses,
    DNS servers over TCP and UDP."""
    targets = direct_targets(wide_web.port)
    result = net_run(hutch, net_flags(["good.test", "example.com"]),
                     "python3", "-c", DIRECT, json.dumps(targets))
    assert result["exit_code"] == 0, result
    check_direct(result["stdout"].splitlines(), targets)
    assert wide_web.requests == [] and result["network_denied"] == []


def test_name_resolution_fails_inside(hutch):
    code = ("import socket\n"
            "for name in ('example.com', 'good.test', 'localhost6.invalid'):\n"
            "    try:\n"
            "        print(name, socket.getaddrinfo(name, 80)[0][4][0])\n"
            "    except socket.gaierror as e:\n"
            "        print(name, 'failed')\n")
    result = net_run(hutch, net_flags(["good.test", "example.com"]), "sh", "-c",
                     f"python3 -c \"{code}\"; getent hosts example.com; echo getent=$?; "
                     "getent ahosts good.test; echo getent2=$?")
    assert result["stdout"].splitlines() == ["example.com failed", "good.test failed",
                                             "localhost6.invalid failed", "getent=2",
                                             "getent2=2"], result


def test_raw_sockets_and_interface_changes_are_refused(hutch):
    code = r"""
import errno, socket
for label, args in [("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0x0300)),
                    ("raw-icmp", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
                    ("raw-ip6", (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW))]:
    try:
        socket.socket(*args).close()
        print(label, "opened")
    except OSError as e:
        print(label, errno.errorcode.get(e.errno))
print("interfaces", sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:]))
"""
    result = net_run(hutch, net_flags(["good.test"]), "sh", "-c",
                     f"python3 -c '{code}'; "
                     "ip link add hx0 type dummy 2>/dev/null && echo link-added; "
                     "ip addr add 10.9.9.9/32 dev lo 2>/dev/null && echo addr-added; "
                     "ip route add default dev lo 2>/dev/null && echo route-added; echo done")
    lines = result["stdout"].splitlines()
    assert lines[:3] == ["packet EPERM", "raw-icmp EPERM", "raw-ip6 EPERM"], result
    assert lines[3] == "interfaces ['lo']", result
    assert lines[4:] == ["done"], result


# ---- through the proxy --------------------------------------------------------------------

def attempts(port):
    """(label, bridge port, raw bytes) of requests the proxy must refuse."""
    http = lambda target: f"GET http://{target}/hello.txt HTTP/1.1\r\n\r\n".encode()
    connect = lambda target: f"CONNECT {target} HTTP/1.1\r\n\r\n".encode()
    return [
        ("ip-literal", 3128, http(f"127.0.0.1:{port}")),
        ("ip-hex", 3128, http(f"0x7f.0.0.1:{port}")),
        ("ip-decimal", 3128, http(f"2130706433:{port}")),
        ("ip-octal", 3128, http(f"0177.0.0.1:{port}")),
        ("ip-short", 3128, http(f"127.1:{port}")),
        ("ip6-literal", 3128, http(f"[::1]:{port}")),
        ("ip6-mapped", 3128, http(f"[::ffff:7f00:1]:{port}")),
        ("connect-ip", 3128, connect(f"127.0.0.1:{port}")),
        ("connect-ip-public", 3128, connect("1.2.3.4:443")),
        ("connect-ip6", 3128, connect(f"[::1]:{port}")),
        ("denied-name", 3128, http(f"evil.test:{port}")),
        ("denied-connect", 3128, connect(f"evil.test:{port}")),
        ("suffix-trick", 3128, http(f"good.test.evil.test:{port}")),
        ("prefix-trick", 3128, http(f"evilgood.test:{port}")),
        ("userinfo", 3128, http(f"good.test@evil.test:{port}")),
        ("userinfo-reversed", 3128, http(f"evil.test@good.test:{port}")),
        ("userinfo-with-port", 3128, http(f"good.test:{port}@evil.test")),
        ("encoded-at", 3128, http(f"good.test%40evil.test:{port}")),
        ("connect-userinfo", 3128, connect("good.test@evil.test:443")),
        ("connect-userinfo-reversed", 3128, connect(f"evil.test@good.test:{port}")),
        ("nul-in-host", 3128, http(f"good.test\x00.evil.test:{port}")),
        ("nul-in-connect", 3128, connect(f"good.test\x00evil.test:{port}")),
        ("backslash", 3128, http(f"good.test\\@evil.test:{port}")),
        ("tab-in-host", 3128, http(f"good.test\tevil.test:{port}")),
        ("absolute-https", 3128, f"GET https://good.test:{port}/ HTTP/1.1\r\n\r\n".encode()),
        ("origin-form", 3128, f"GET /hello.txt HTTP/1.1\r\nHost: good.test:{port}\r\n\r\n".encode()),
        ("garbage", 3128, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"),
        ("bare-lf", 3128, f"GET http://good.test:{port}/ HTTP/1.1\nHost: x\n\n".encode()),
        ("folded-header", 3128,
         f"GET http://good.test:{port}/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n".encode()),
        ("smuggling", 3128, f"POST http://good.test:{port}/ HTTP/1.1\r\nContent-Length: 4\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n".encode()),
        ("double-length", 3128, f"POST http://good.test:{port}/ HTTP/1.1\r\nContent-Length: 4\r\n"
                                "Content-Length: 5\r\n\r\n".encode()),
    ]


SOCKS_ATTEMPTS = [
    ("socks-ipv4", lambda p: socks5(socket.inet_aton("127.0.0.1"), p, atyp=1)),
    ("socks-ipv6", lambda p: socks5(socket.inet_pton(socket.AF_INET6, "::1"), p, atyp=4)),
    ("socks-ip-as-name", lambda p: socks5(b"127.0.0.1", p)),
    ("socks-decimal-name", lambda p: socks5(b"2130706433", p)),
    ("socks-denied", lambda p: socks5(b"evil.test", p)),
    ("socks-userinfo", lambda p: socks5(b"good.test@evil.test", p)),
    ("socks-nul", lambda p: socks5(b"good.test\x00evil.test", p)),
    ("socks-bind", lambda p: [b"\x05\x01\x00", b"\x05\x02\x00\x03\x09good.test" + p.to_bytes(2, "big")]),
    ("socks-udp", lambda p: [b"\x05\x01\x00", b"\x05\x03\x00\x03\x09good.test" + p.to_bytes(2, "big")]),
]


def test_relays_through_the_proxy_are_refused(hutch, web):
    """good.test is allowed and reachable; each attempt tries to get
    somewhere else (or to the server without naming good.test)."""
    tries = attempts(web.port)
    socks = [(label, 1080, make(web.port)) for label, make in SOCKS_ATTEMPTS]
    flags = net_flags(["good.test"], hosts={"good.test": "127.0.0.1", "evil.test": "127.0.0.1"})
    result = net_run(hutch, flags, *raw_requests([(p, d) for _, p, d in tries + socks]))
    answers = raw_answers(result)
    for (label, port, _), answer in zip(tries + socks, answers):
        assert not isinstance(answer, str), (label, answer)
        if port == 3128:
            assert status_of(answer) in (400, 403, 405), (label, answer)
            assert b"\r\n\r\nhutch: " in answer, (label, answer)
            assert BODY.encode() not in answer, label
        else:
            assert answer[:2] == b"\x05\x00" and answer[3] != 0, (label, answer)
    assert web.requests == []
    assert "evil.test" in result["network_denied"], result
    assert len(result["network_denied"]) >= 20, result


def test_allowed_names_cannot_reach_special_addresses(hutch, web):
    """An allowed name that resolves to loopback, the metadata service or a
    private address is refused unless --allow-address covers it."""
    hosts = {"lo.good.test": "127.0.0.1", "lo2.good.test": "127.0.0.2",
             "meta.good.test": "169.254.169.254", "meta6.good.test": "fd00:ec2::254",
             "mapped.good.test": "::ffff:127.0.0.1", "priv.good.test": "10.0.0.1",
             "zero.good.test": "0.0.0.0", "ll.good.test": "169.254.1.1"}
    items = [(3128, f"GET http://{n}:{web.port}/hello.txt HTTP/1.1\r\n\r\n".encode())
             for n in hosts]
    items += [(1080, socks5(n.encode(), web.port)) for n in hosts]
    result = net_run(hutch, net_flags(["*.good.test"], hosts=hosts, addresses=()),
                     *raw_requests(items))
    answers = raw_answers(result)
    for (port, _), answer in zip(items, answers):
        if port == 3128:
            assert status_of(answer) == 403 and b"\r\n\r\nhutch: " in answer, answer
        else:
            assert answer[2:4] == b"\x05\x02", answer
    text = b"".join(a for a in answers if isinstance(a, bytes)).decode(errors="replace")
    assert "cloud metadata" in text and "loopback" in text and "private" in text, text
    assert sorted(result["network_denied"]) == sorted(hosts)
    assert web.requests == []


def test_a_second_connect_inside_a_tunnel_is_only_data(hutch, recorder, web):
    """Pipelined and relayed CONNECTs: whatever follows the first request
    goes to the first upstream as bytes, and no second connection is made."""
    evil = (f"CONNECT evil.test:{web.port} HTTP/1.1\r\n\r\n"
            f"GET http://evil.test:{web.port}/hello.txt HTTP/1.1\r\n\r\nQUIT").encode()
    first = f"CONNECT good.test:{recorder.port} HTTP/1.1\r\n\r\n".encode()
    socks = socks5(b"good.test", recorder.port)
    result = net_run(hutch, net_flags(["good.test"], hosts={"good.test": "127.0.0.1",
                                                            "evil.test": "127.0.0.1"}),
                     *raw_requests([(3128, first + evil), (3128, [first, evil]),
                                    (1080, socks + [evil])]))
    one, two, three = raw_answers(result)
    established = b"HTTP/1.1 200 Connection established\r\n\r\n"
    assert one == established + evil and two == established + evil, (one, two)
    assert three.endswith(evil) and three[2:4] == b"\x05\x00", three
    assert recorder.received == [evil] * 3
    assert web.requests == [] and result["network_denied"] == []


def test_host_header_and_hop_by_hop_headers_cannot_redirect(hutch, web):
    data = (f"GET http://good.test:{web.port}/hello.txt HTTP/1.1\r\nHost: evil.test\r\n"
            "Connection: Upgrade, X-Forwarded-For\r\nUpgrade: websocket\r\n"
            "Proxy-Connection: keep-alive\r\n\r\n"
            f"GET http://evil.test:{web.port}/hello.txt HTTP/1.1\r\n\r\n").encode()
    result = net_run(hutch, net_flags(["good.test"], hosts={"good.test": "127.0.0.1",
                                                            "evil.test": "127.0.0.1"}),
                     *raw_requests([(3128, data)]))
    answer, = raw_answers(result)
    assert status_of(answer) == 200 and answer.count(b"HTTP/1.") == 1, answer
    assert len(web.requests) == 1
    headers = {k.lower(): v for k, v in web.requests[0][2].items()}
    assert headers["host"] == f"good.test:{web.port}"
    assert headers["connection"] == "close" and "upgrade" not in headers
    assert result["network_denied"] == []


def test_proxy_variables_cannot_be_overridden(hutch, web):
    """--env cannot point the command at another proxy or exempt hosts."""
    override = ["--env", "HTTP_PROXY=http://10.0.0.1:80", "--env", "http_proxy=http://10.0.0.1:80",
                "--env", "HTTPS_PROXY=http://10.0.0.1:80", "--env", "ALL_PROXY=socks5h://10.0.0.1:1",
                "--env", "NO_PROXY=*", "--env", "no_proxy=*"]
    url = f"http://good.test:{web.port}/hello.txt"
    result = net_run(hutch, [*net_flags(["good.test"]), *override], "sh", "-c",
                     f"echo $HTTP_PROXY $http_proxy $HTTPS_PROXY $ALL_PROXY $NO_PROXY $no_proxy; "
                     f"{shcurl()} {url}; "
                     f"curl -sS --max-time 5 -x http://10.0.0.1:80 {url}; echo explicit=$?")
    lines = result["stdout"].splitlines()
    assert lines[0] == ("http://127.0.0.1:3128 http://127.0.0.1:3128 http://127.0.0.1:3128 "
                        "socks5h://127.0.0.1:1080 localhost,127.0.0.1,::1 localhost,127.0.0.1,::1"), result
    assert lines[1:] == [BODY, "200", "explicit=7"], result
    assert len(web.requests) == 1


# ---- the bridge and the proxy's socket ------------------------------------------------------

KILL_BRIDGE = r"""
import errno, os, signal, time
found = killed = 0
dead = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            if open("/proc/%s/comm" % p).read().strip() == "hutch-bridge":
                found += 1
                os.kill(int(p), signal.SIGKILL)
                killed += 1
                dead.append(p)
        except OSError as e:
            print("kill failed", errno.errorcode.get(e.errno))
def running(p):
    try:
        return open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
deadline = time.monotonic() + 10
while [p for p in dead if running(p)] and time.monotonic() < deadline:
    time.sleep(0.01)
print("found", found, "killed", killed)
"""


def bridge_kill_script(url, port):
    return (f"{shcurl()} {url}; "
            f"python3 -c '{KILL_BRIDGE}'; "
            f"{shcurl()} {url}; echo proxy=$?; "
            f"{shcurl()} http://evil.test:{port}/hello.txt; "
            f"curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:{port}/hello.txt; echo direct=$?; "
            f"curl -sS --max-time 5 --noproxy '*' http://10.0.0.1/; echo private=$?")


def check_bridge_killed(result, web):
    """The command either could not kill the bridge (then the allowlist
    still holds) or killed it (then nothing listens on 3128 any more); in
    neither case did another route appear."""
    lines = result["stdout"].splitlines()
    assert lines[:2] == [BODY, "200"], result
    if lines[2] == "kill failed EPERM":
        assert lines[3] == "found 1 killed 0", result
        assert lines[4:7] == [BODY, "200", "proxy=0"], result
        assert lines[7].startswith("hutch: network access to evil.test is not allowed"), result
        assert lines[8:] == ["403", "direct=7", "private=7"], result
        assert len(web.requests) == 2
    else:
        assert lines[2] == "found 1 killed 1", result
        if lines[3] == "000":
            # No bridge any more: nothing at all is reachable.
            assert lines[3:] == ["000", "proxy=7", "000", "direct=7", "private=7"], result
            assert len(web.requests) == 1
        else:
            # A session's hutch-init started the bridge again: the allowlist holds.
            assert lines[3:6] == [BODY, "200", "proxy=0"], result
            assert lines[6].startswith("hutch: network access to evil.test is not allowed"), result
            assert lines[7:] == ["403", "direct=7", "private=7"], result
            assert len(web.requests) == 2
    return lines[2] != "kill failed EPERM"


def test_killing_the_bridge_opens_no_route(hutch, web):
    url = f"http://good.test:{web.port}/hello.txt"
    result = net_run(hutch, net_flags(["good.test"]), "sh", "-c",
                     bridge_kill_script(url, web.port))
    check_bridge_killed(result, web)


def test_the_bridge_cannot_be_borrowed(hutch):
    """The bridge keeps the proxy's connections: no ptrace, no /proc/PID/fd."""
    code = r"""
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
for p in os.listdir("/proc"):
    if p.isdigit() and open("/proc/%s/comm" % p).read().strip() == "hutch-bridge":
        try:
            os.listdir("/proc/%s/fd" % p)
            print("fds readable")
        except OSError as e:
            print("fds", errno.errorcode[e.errno])
        rc = libc.ptrace(16, int(p), None, None)  # PTRACE_ATTACH
        print("ptrace", "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()])
        status = open("/proc/%s/status" % p).read()
        print([l for l in status.splitlines() if l.startswith(("CapEff", "NoNewPrivs"))])
"""
    result = net_run(hutch, net_flags(["good.test"]), "python3", "-c", code)
    lines = result["stdout"].splitlines()
    assert lines[0] == "fds EACCES", result
    assert lines[1] == "ptrace EPERM", result
    assert lines[2] == "['NoNewPrivs:\\t1', 'CapEff:\\t0000000000000000']" or (
        "CapEff:\\t0000000000000000" in lines[2] and "NoNewPrivs:\\t1" in lines[2]), result


def test_host_sockets_are_out_of_reach(hutch, tmp_path, proxy_base):
    """Abstract unix sockets belong to the host's network namespace; path
    sockets of the host, including another run's proxy, are not mounted."""
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + CANARY)
    abstract.listen(4)
    trap_dir = tmp_path / "trap"
    trap_dir.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(trap_dir, 0o777)
    trap = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    trap.bind(str(trap_dir / "trap.sock"))
    os.chmod(trap_dir / "trap.sock", 0o777)
    trap.listen(4)
    # Another run whose allowlist has evil.test: its proxy's socket on the host.
    other = subprocess.Popen([HUTCH, "run", *net_flags(["evil.test"]), "--", "sleep", "30"],
                             env={**hutch.env, "XDG_RUNTIME_DIR": str(proxy_base)},
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        proxies = wait_for(lambda: children_named(other.pid, "hutch-proxy"))
        assert proxies, "the other run's proxy did not start"
        other_sock, = run_sockets(proxy_base)
        paths = [str(trap_dir / "trap.sock"), str(other_sock),
                 "/var/run/docker.sock", "/run/docker.sock"]
        code = (
            "import errno, socket, sys, os\n"
            "for path in sys.argv[1:]:\n"
            "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "    try:\n"
            "        s.connect(path.replace('@', '\\0', 1) if path.startswith('@') else path)\n"
            "        print('connected')\n"
            "    except OSError as e:\n"
            "        print(errno.errorcode[e.errno])\n"
            "print(sorted(os.listdir('/.hutch')))\n")
        result = net_run(hutch, net_flags(["good.test"]), "python3", "-c", code,
                         "@" + CANARY, *paths)
        lines = result["stdout"].splitlines()
        assert lines[0] == "ECONNREFUSED", result  # the abstract one: not in this netns
        assert lines[1:5] == ["ENOENT"] * 4, result
        assert lines[5] == "['proxy.sock']", result
        abstract.setblocking(False)
        trap.setblocking(False)
        for listener in (abstract, trap):
            with pytest.raises(BlockingIOError):
                listener.accept()
    finally:
        other.send_signal(signal.SIGTERM)
        other.wait(timeout=30)
        abstract.close()
        trap.close()


def test_the_proxy_socket_is_read_only_for_a_run(hutch):
    result = net_run(hutch, net_flags(["good.test"]), "sh", "-c",
                     "rm -f /.hutch/proxy.sock; echo x > /.hutch/other; ln -s /tmp /.hutch/l; "
                     "ls /.hutch")
    assert result["stdout"] == "proxy.sock\n", result
    assert result["stderr"].count("Read-only file system") == 3, result


# ---- sessions ---------------------------------------------------------------------------------

def test_a_session_cannot_forge_or_hide_refusals(sessions, web):
    sessions.run("session", "create", "s1", *net_flags(["good.test"]), check=0)
    fake = json.dumps({"time": "2000-01-01T00:00:00.000Z", "event": "network_denied",
                       "host": CANARY, "port": 1, "protocol": "http", "reason": "x",
                       "session": "s1"})
    result = exec_result(sessions, "s1", "--", "sh", "-c",
                         f"ls -a /.hutch; echo '{fake}' > /.hutch/audit.log; "
                         f"echo '{fake}' >> /workspace/audit.log; "
                         f"{shcurl()} http://evil.test:{web.port}/")
    assert "audit.log" not in result["stdout"].split("\n")[:4], result
    assert result["network_denied"] == ["evil.test"], result
    log = pathlib.Path(sessions.status("s1")["state_dir"]) / "audit.log"
    events = [json.loads(l) for l in log.read_text().splitlines()]
    assert [e["host"] for e in events] == ["evil.test"], events
    assert CANARY not in log.read_text()


def test_a_planted_proxy_socket_symlink_is_not_followed(sessions, tmp_path, web):
    """The sandbox tries to replace /.hutch/proxy.sock (a host directory for
    sessions) with a symlink to a host socket: it may not be able to (the
    directory is read-only inside); when it can, hutch, starting the proxy
    again, must bind its own socket, and nothing connects to the trap."""
    trap_dir = tmp_path / "trap"
    trap_dir.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(trap_dir, 0o777)
    trap_path = trap_dir / "trap.sock"
    trap = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    trap.bind(str(trap_path))
    os.chmod(trap_path, 0o777)
    trap.listen(8)
    trap.setblocking(False)
    try:
        sessions.run("session", "create", "s2", *net_flags(["good.test"]), check=0)
        record = json.loads(sessions.record_path("s2").read_text())
        proxy = record["proxy_pid"]
        result = exec_result(sessions, "s2", "--", "sh", "-c",
                             f"rm /.hutch/proxy.sock && ln -s {trap_path} /.hutch/proxy.sock "
                             "&& echo planted")
        assert result["stdout"] == "planted\n" or (
            result["stdout"] == "" and "Read-only file system" in result["stderr"]), result
        os.kill(proxy, signal.SIGKILL)
        assert wait_for(lambda: not pathlib.Path(f"/proc/{proxy}").exists())
        url = f"http://good.test:{web.port}/hello.txt"
        result = exec_result(sessions, "s2", "--", "sh", "-c",
                             f"{shcurl()} {url}; {shcurl()} http://evil.test/; "
                             "test -S /.hutch/proxy.sock && ! test -L /.hutch/proxy.sock && "
                             "echo real-socket")
        assert result["stdout"].splitlines()[:2] == [BODY, "200"], result
        assert result["stdout"].splitlines()[-1] == "real-socket", result
        assert result["network_denied"] == ["evil.test"]
        with pytest.raises(BlockingIOError):
            trap.accept()
        assert trap_path.is_socket()
    finally:
        trap.close()


def test_killing_the_bridge_in_a_session_opens_no_route(sessions, web):
    sessions.run("session", "create", "s3", *net_flags(["good.test"]), check=0)
    url = f"http://good.test:{web.port}/hello.txt"
    result = exec_result(sessions, "s3", "--", "sh", "-c", bridge_kill_script(url, web.port))
    check_bridge_killed(result, web)
    served = len(web.requests)
    # Later commands of the session get no route either.
    result = exec_result(sessions, "s3", "--", "python3", "-c", DIRECT,
                         json.dumps(direct_targets(web.port)))
    check_direct(result["stdout"].splitlines(), direct_targets(web.port))
    assert len(web.requests) == served


# ---- docker -----------------------------------------------------------------------------------

def test_docker_direct_connections_and_bridge_kill(hutch, docker_engine, wide_web):
    targets = direct_targets(wide_web.port)
    url = f"http://good.test:{wide_web.port}/hello.txt"
    result = net_run(hutch, net_flags(["good.test"]), "sh", "-c",
                     f"python3 -c '{DIRECT}' '{json.dumps(targets)}'; "
                     + bridge_kill_script(url, wide_web.port), backend="docker")
    lines = result["stdout"].splitlines()
    check_direct(lines[:len(targets)], targets)
    result["stdout"] = "\n".join(lines[len(targets):]) + "\n"
    check_bridge_killed(result, wide_web)


def test_docker_relays_are_refused(hutch, docker_engine, web, recorder):
    tries = attempts(web.port)
    socks = [(label, 1080, make(web.port)) for label, make in SOCKS_ATTEMPTS]
    pipelined = (f"CONNECT good.test:{recorder.port} HTTP/1.1\r\n\r\n"
                 f"CONNECT evil.test:{web.port} HTTP/1.1\r\n\r\nQUIT").encode()
    items = [(p, d) for _, p, d in tries + socks] + [(3128, pipelined)]
    flags = net_flags(["good.test"], hosts={"good.test": "127.0.0.1", "evil.test": "127.0.0.1"})
    result = net_run(hutch, flags, *raw_requests(items), backend="docker")
    answers = raw_answers(result)
    for (label, port, _), answer in zip(tries + socks, answers):
        if port == 3128:
            assert status_of(answer) in (400, 403, 405), (label, answer)
        else:
            assert answer[:2] == b"\x05\x00" and answer[3] != 0, (label, answer)
    assert answers[-1].endswith(b"\r\n\r\nCONNECT evil.test:%d HTTP/1.1\r\n\r\nQUIT" % web.port)
    assert recorder.received == [pipelined.split(b"\r\n\r\n", 1)[1]]
    assert web.requests == []
    assert "evil.test" in result["network_denied"]


# ---- the proxy's identity and its directory -------------------------------------------------

def proxy_status(pid):
    return dict(line.split(":\t", 1) for line in
                pathlib.Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)


def expected_proxy_ids():
    """Who the proxy runs as: root's proxy as the user hutch-proxy, or else
    uid and gid 65520 (docs/network.md); an unprivileged caller's as the caller."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        import pwd
        entry = pwd.getpwnam("hutch-proxy")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65520, 65520


def as_nobody(code, *args):
    """A Python snippet run as uid and gid 65534 (the native sandbox's user
    when hutch is root), with no supplementary groups."""
    return subprocess.run([sys.executable, "-c", code, *args], user=65534, group=65534,
                          extra_groups=[], capture_output=True, text=True, timeout=60,
                          cwd="/")


@pytest.mark.parametrize("mode", ["run", "session", "docker-run"])
def test_the_proxy_has_its_own_user_and_filter(hutch, sessions, mode, request):
    """The proxy parses what the sandbox sends: it runs as a user no sandbox
    runs as (not nobody), with no groups, no capabilities, no_new_privs, a
    seccomp filter, and not dumpable; a process of the sandbox's user can
    neither signal it nor read it. (docker-run: the proxy of hutch-docker,
    with glibc.)"""
    if mode == "docker-run":
        request.getfixturevalue("docker_engine")
    if mode != "session":
        backend = "docker" if mode == "docker-run" else "native"
        other = subprocess.Popen([HUTCH, "run", "--backend", backend, *net_flags(["good.test"]),
                                  "--", "sleep", "30"],
                                 env=hutch.env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proxies = wait_for(lambda: children_named(other.pid, "hutch-proxy"))
    else:
        sessions.run("session", "create", "id1", *net_flags(["good.test"]), check=0)
        proxies = [json.loads(sessions.record_path("id1").read_text())["proxy_pid"]]
    try:
        assert len(proxies) == 1, proxies
        status = proxy_status(proxies[0])
        uid, gid = expected_proxy_ids()
        assert status["Uid"].split() == [str(uid)] * 4, status["Uid"]
        assert status["Gid"].split() == [str(gid)] * 4, status["Gid"]
        if os.geteuid() == 0:
            assert uid not in (0, 65534, 1000) and gid not in (0, 65534, 1000), (uid, gid)
            assert status["Groups"].strip() == "", status["Groups"]
            assert status["CapBnd"] == "0000000000000000", status
        for caps in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert status[caps] == "0000000000000000", (caps, status)
        assert status["NoNewPrivs"] == "1", status
        assert status["Seccomp"] == "2", status
        # Not dumpable: its memory and descriptors are closed to its own uid.
        probe = ("import errno, os, sys\n"
                 "pid = int(sys.argv[1])\n"
                 "for what in ('environ', 'fd'):\n"
                 "    try:\n"
                 "        open(f'/proc/{pid}/environ').read() if what == 'environ' else "
                 "os.listdir(f'/proc/{pid}/fd')\n"
                 "        print(what, 'readable')\n"
                 "    except OSError as e:\n"
                 "        print(what, errno.errorcode[e.errno])\n"
                 "try:\n"
                 "    os.kill(pid, 0)\n"
                 "    print('signal', 'allowed')\n"
                 "except OSError as e:\n"
                 "    print('signal', errno.errorcode[e.errno])\n")
        if os.geteuid() == 0:
            # The native sandbox's user on the host, as any other process of it.
            result = as_nobody(probe, str(proxies[0]))
            assert result.stdout.splitlines() == ["environ EACCES", "fd EACCES",
                                                  "signal EPERM"], result
        else:
            # The caller itself: same uid, still no way in.
            result = subprocess.run([sys.executable, "-c", probe, str(proxies[0])],
                                    capture_output=True, text=True, timeout=60)
            assert result.stdout.splitlines()[:2] == ["environ EACCES", "fd EACCES"], result
    finally:
        if mode != "session":
            other.send_signal(signal.SIGTERM)
            other.wait(timeout=30)


# A process of the native sandbox's user (nobody, when hutch is root) on the
# host: it watches /tmp for the runs' proxy directories and tries everything
# that would put its own socket where a sandbox connects, or a symlink where
# hutch binds: rename the directory away and plant a symlink to its own,
# replace or add to what is inside, change its mode. Its socket answers any
# request with the canary. Prints what worked, as JSON.
SWAPPER = r"""
import json, os, socket, sys, tempfile, threading, time
canary, seconds = sys.argv[1], float(sys.argv[2])
own = tempfile.mkdtemp(prefix="swapper-", dir="/tmp")
wins, servers = [], []
def serve(s):
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return
        c.recv(65536)
        body = canary.encode() + b"\n"
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        c.close()
def listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o777)
    s.listen(16)
    servers.append(s)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
listen(os.path.join(own, "proxy.sock"))
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for name in os.listdir("/tmp"):
        if not name.startswith("hutch-net-") or name.endswith("-moved"):
            continue
        d = os.path.join("/tmp", name)
        def attempt(label, action):
            if [label, name] in wins:
                return
            try:
                action()
                wins.append([label, name])
            except OSError:
                pass
        attempt("renamed", lambda: os.rename(d, d + "-moved"))
        if os.path.lexists(d + "-moved") and not os.path.lexists(d):
            attempt("symlinked", lambda: os.symlink(own, d))
        attempt("unlinked", lambda: os.unlink(os.path.join(d, "proxy.sock")))
        attempt("bound", lambda: listen(os.path.join(d, "proxy.sock")))
        attempt("planted", lambda: open(os.path.join(d, "planted"), "x").close())
        attempt("chmod", lambda: os.chmod(d, 0o777))
    time.sleep(0.0005)
print(json.dumps(wins))
"""

# Runs inside a mount namespace of its own with a fresh /tmp (so that the
# swapper attacks only these runs, not other hutch runs on the machine; a
# hutch built under /tmp is mounted back at its place): the swapper as
# nobody, and hutch runs one after another, each fetching the allowed URL
# through its proxy after a moment. Prints the runs' output and the
# swapper's wins as JSON.
SWAP_DRIVER = r"""
import glob, json, os, subprocess, sys, time
hutch, swapper, canary, url, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
flags = json.loads(sys.argv[6])
build = os.path.dirname(os.path.realpath(hutch))
old_tmp = os.open("/tmp", os.O_PATH | os.O_DIRECTORY)
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "hutch-race", "/tmp"], check=True)
if build.startswith("/tmp/"):
    os.makedirs(build)
    subprocess.run(["mount", "--no-canonicalize", "--bind",
                    f"/proc/{os.getpid()}/fd/{old_tmp}/{build[5:]}", build],
                   check=True)
attacker = subprocess.Popen([sys.executable, "-c", swapper, canary, str(2 + 2.5 * runs)],
                            user=65534, group=65534, extra_groups=[], cwd="/",
                            stdout=subprocess.PIPE, text=True)
deadline = time.monotonic() + 10  # until the swapper listens on its own socket
while not glob.glob("/tmp/swapper-*/proxy.sock") and time.monotonic() < deadline:
    time.sleep(0.01)
out = []
for _ in range(runs):
    p = subprocess.run([hutch, "run", "--json", *flags, "--", "sh", "-c",
                        "sleep 1; curl -sS --max-time 10 " + url], capture_output=True, text=True)
    out.append([p.returncode, p.stdout[-2000:], p.stderr[-2000:]])
wins = attacker.communicate(timeout=60)[0]
print(json.dumps({"runs": out, "wins": json.loads(wins or "[]")}))
"""


def test_the_sandbox_user_cannot_swap_the_proxy_directory(hutch, web):
    """/tmp/hutch-net-* must never belong to (or be writable by) the
    sandbox's user: a process of that uid racing the runs' start can neither
    move the directory and plant a symlink where hutch binds, nor put its own
    socket where the sandbox connects."""
    if os.geteuid() != 0:
        pytest.skip("the sandbox's user is another user only when hutch is root (as an "
                    "unprivileged caller it is the caller itself)")
    url = f"http://good.test:{web.port}/hello.txt"
    driver = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", SWAP_DRIVER, HUTCH,
         SWAPPER, CANARY, url, "3", json.dumps(net_flags(["good.test"]))],
        env=hutch.env, capture_output=True, text=True, timeout=120, cwd="/")
    assert driver.returncode == 0, driver
    report = json.loads(driver.stdout)
    assert report["wins"] == [], report
    for code, stdout, stderr in report["runs"]:
        assert code == 0, (code, stdout, stderr)
        result = json.loads(stdout)
        assert result["stdout"] == BODY + "\n", result
        assert CANARY not in stdout
    assert len(web.requests) == 3
