"""Network mode allow (--net allow:DOMAIN,...): the filtering proxy, its
bridge into the sandbox, and what a sandboxed program can and cannot reach.

Every server is one the test starts itself: on 127.0.0.1 of the host with an
ephemeral port, or (as root) in a network namespace made with a veth pair.
Every name is mapped with --add-host; real DNS names appear only as names
that must be refused before any lookup. No traffic leaves the machine.
Native one-shot runs and sessions, docker runs and docker sessions. Runs as
root and as an unprivileged user (scripts/test.sh). Escape attempts:
tests/security/test_network_escapes.py."""
import base64
import http.server
import json
import os
import pathlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

from conftest import HUTCH, ROOT, Sessions, age
from helpers import exec_result, load_result, wait_for
BODY = "hutch-network-" + uuid.uuid4().hex


# ---- servers the test starts ---------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        return super().do_GET()

    def do_HEAD(self):
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        return super().do_HEAD()


class WebServer:
    """A threaded HTTP server on 127.0.0.1 serving root; records each request
    as (method, path, headers)."""

    def __init__(self, root, bind="127.0.0.1"):
        handler = lambda *a, **kw: _Handler(*a, directory=str(root), **kw)
        self.httpd = http.server.ThreadingHTTPServer((bind, 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.requests = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    def close(self):
        self.httpd.shutdown()
        self.thread.join(timeout=10)
        self.httpd.server_close()


class Recorder:
    """A TCP server on 127.0.0.1 that echoes what each connection sends and
    keeps a copy; it closes the connection at EOF or once the data so far
    ends with b"QUIT"."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        data = b""
        with self.lock:
            index = len(self.received)
            self.received.append(b"")
        conn.settimeout(20)
        try:
            while not data.endswith(b"QUIT"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                with self.lock:
                    self.received[index] = data
                conn.sendall(chunk)
        except OSError:
            pass
        conn.close()

    def close(self):
        # shutdown() wakes the accept() above; a bare close() would leave the
        # port listening, held by the blocked call.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def web(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text(BODY + "\n")
    server = WebServer(root)
    server.root = root
    yield server
    server.close()


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.close()


def make_git_repo(root):
    """A bare repository under root/repo.git with one commit, prepared for
    git's "dumb" HTTP protocol."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x.test",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@x.test"}
    work = root.parent / "git-work"
    run = lambda *a, cwd=work: subprocess.run(["git", *a], cwd=cwd, env=env, check=True,
                                              capture_output=True)
    work.mkdir()
    run("init", "-q", "-b", "main")
    (work / "file.txt").write_text(BODY + "\n")
    run("add", "file.txt")
    run("commit", "-qm", "network-commit")
    run("clone", "-q", "--bare", str(work), str(root / "repo.git"), cwd=root)
    run("update-server-info", cwd=root / "repo.git")


# ---- running hutch ------------------------------------------------------------------

def net_flags(allow, hosts=None, addresses=("127.0.0.1",)):
    """--net allow:... plus an --add-host per name (default: every allowed
    name without a '*' mapped to 127.0.0.1) and --allow-address per range."""
    flags = ["--net", "allow:" + ",".join(allow)]
    if hosts is None:
        hosts = {name: "127.0.0.1" for name in allow if "*" not in name}
    for name, address in hosts.items():
        flags += ["--add-host", f"{name}={address}"]
    for address in addresses:
        flags += ["--allow-address", address]
    return flags


def net_run(hutch, flags, *cmd, backend="native", **kw):
    """hutch run --json --backend BACKEND FLAGS -- CMD: the result."""
    return load_result(hutch.run("run", "--json", "--backend", backend, *flags, "--", *cmd, **kw))


# A client run inside the sandbox: sends each request's raw bytes to a port
# of the sandbox's 127.0.0.1 in one write and prints, as JSON, the hex of
# everything that came back before the connection closed (or "ERR errno").
RAW_CLIENT = r"""
import base64, json, socket, sys
out = []
for item in json.loads(base64.b64decode(sys.argv[1])):
    try:
        s = socket.create_connection(("127.0.0.1", item["port"]), timeout=15)
    except OSError as e:
        out.append("ERR %s" % e.errno)
        continue
    got = b""
    try:
        for part in item["parts"]:
            s.sendall(bytes.fromhex(part))
            if len(item["parts"]) > 1:
                got += s.recv(65536)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError as e:
        got += ("[ERR %s]" % e.errno).encode()
    s.close()
    out.append(got.hex())
print(json.dumps(out))
"""


def raw_requests(items):
    """[(port, bytes or [bytes, ...])] -> argv for RAW_CLIENT."""
    spec = [{"port": port, "parts": [p.hex() for p in (data if isinstance(data, list) else [data])]}
            for port, data in items]
    return ["python3", "-c", RAW_CLIENT, base64.b64encode(json.dumps(spec).encode()).decode()]


def raw_answers(result):
    assert result["exit_code"] == 0, result
    return [a if a.startswith("ERR") else bytes.fromhex(a) for a in json.loads(result["stdout"])]


def socks5(host, port, atyp=3):
    """A SOCKS5 greeting and CONNECT request for host (a name, or the packed
    address for ATYP 1 and 4)."""
    if atyp == 3:
        addr = bytes([len(host)]) + host
    else:
        addr = host
    return [b"\x05\x01\x00", b"\x05\x01\x00" + bytes([atyp]) + addr + port.to_bytes(2, "big")]


def shcurl(*args):
    return shlex.join(curl(*args))


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else None


def curl(*args):
    """curl in the sandbox: prints the status code after the body (which ends
    with a newline in every test here); through a tunnel, the CONNECT's."""
    tunnel = "-p" in args or "--proxytunnel" in args
    status = "%{http_connect}\\n" if tunnel else "%{http_code}\\n"
    return ["curl", "-sS", "--max-time", "20", "-w", status, *args]


# ---- native one-shot runs: what is allowed --------------------------------------------

def test_allowed_name_through_curl_and_the_proxy_environment(hutch, web):
    url = f"http://good.test:{web.port}/hello.txt"
    result = net_run(hutch, net_flags(["good.test"]), "sh", "-c",
                     f"{shcurl()} {url}; env | grep -i _proxy= | sort")
    assert result["exit_code"] == 0, result
    lines = result["stdout"].splitlines()
    assert lines[:2] == [BODY, "200"], result
    assert sorted(lines[2:]) == sorted([
        "HTTP_PROXY=http://127.0.0.1:3128", "http_proxy=http://127.0.0.1:3128",
        "HTTPS_PROXY=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128",
        "ALL_PROXY=socks5h://127.0.0.1:1080", "all_proxy=socks5h://127.0.0.1:1080",
        "NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1"])
    assert result["network_denied"] == []
    assert result["isolated"] is True and result["backend"] == "native"
    # The upstream saw the name, not the sandbox's proxy, and no proxy headers.
    assert [(m, p) for m, p, _ in web.requests] == [("GET", "/hello.txt")]
    headers = {k.lower(): v for k, v in web.requests[0][2].items()}
    assert headers["host"] == f"good.test:{web.port}"
    assert headers["connection"] == "close"
    assert not [h for h in headers if h.startswith("proxy-")]


def test_allowed_name_through_connect_and_socks5(hutch, web):
    url = f"http://good.test:{web.port}/hello.txt"
    script = (f"{shcurl('--proxytunnel')} {url}; "
              f"{shcurl('-x', 'socks5h://127.0.0.1:1080')} {url}; "
              f"{shcurl('-x', '')} {url} --proxytunnel")
    result = net_run(hutch, net_flags(["good.test"]), "sh", "-c", script)
    # The last one bypasses the proxy (-x ''): good.test does not resolve.
    assert result["stdout"].splitlines() == [BODY, "200", BODY, "200", "000"], result
    assert "resolve host" in result["stderr"], result
    assert result["network_denied"] == []
    assert len(web.requests) == 2
    for _, path, headers in web.requests:
        assert path == "/hello.txt" and headers["Host"] == f"good.test:{web.port}"


def test_connect_tunnel_carries_bytes_both_ways(hutch, recorder):
    """CONNECT and SOCKS5 to a plain TCP server: what the client writes after
    the proxy's answer arrives unchanged, and the answer comes back."""
    head = f"CONNECT good.test:{recorder.port} HTTP/1.1\r\nHost: good.test\r\n\r\n".encode()
    result = net_run(hutch, net_flags(["good.test"]), *raw_requests([
        (3128, [head, b"first \x00\xff bytes QUIT"]),
        (1080, socks5(b"good.test", recorder.port) + [b"socks bytes QUIT"]),
    ]))
    connect, socks = raw_answers(result)
    assert connect == b"HTTP/1.1 200 Connection established\r\n\r\nfirst \x00\xff bytes QUIT"
    assert socks[:2] == b"\x05\x00" and socks[2:4] == b"\x05\x00", socks
    assert socks.endswith(b"socks bytes QUIT")
    assert sorted(recorder.received) == [b"first \x00\xff bytes QUIT", b"socks bytes QUIT"]
    assert result["network_denied"] == []


def test_allowed_name_through_python_urllib(hutch, web):
    code = ("import urllib.request\n"
            f"print(urllib.request.urlopen('http://good.test:{web.port}/hello.txt', "
            "timeout=20).read().decode(), end='')")
    result = net_run(hutch, net_flags(["good.test"]), "python3", "-c", code)
    assert result["exit_code"] == 0 and result["stdout"] == BODY + "\n", result
    assert result["network_denied"] == []


def test_git_clone_over_http(hutch, web):
    make_git_repo(web.root)
    result = net_run(hutch, net_flags(["git.test"]), "sh", "-c",
                     f"git clone -q http://git.test:{web.port}/repo.git /tmp/r && "
                     "git -C /tmp/r log --format=%s && cat /tmp/r/file.txt")
    assert result["exit_code"] == 0, (result["stderr"], web.requests)
    assert result["stdout"] == f"network-commit\n{BODY}\n", result
    assert result["network_denied"] == []
    assert any(p.startswith("/repo.git/info/refs") for _, p, _ in web.requests), web.requests


def test_wildcard_matches_subdomains_not_the_apex(hutch, web):
    hosts = {n: "127.0.0.1" for n in ("a.good.test", "a.b.good.test", "good.test", "xgood.test")}
    url = "http://{}:%d/hello.txt" % web.port
    script = "; ".join(f"{shcurl('-o', '/dev/null')} {url.format(n)}" for n in hosts)
    result = net_run(hutch, net_flags(["*.good.test"], hosts=hosts), "sh", "-c", script)
    assert result["stdout"].split() == ["200", "200", "403", "403"], result
    assert sorted(result["network_denied"]) == ["good.test", "xgood.test"]
    assert [h["Host"] for _, _, h in web.requests] == [f"a.good.test:{web.port}",
                                                       f"a.b.good.test:{web.port}"]


def test_names_are_case_insensitive_and_a_trailing_dot_is_ignored(hutch, web, recorder):
    flags = net_flags(["GOOD.Test."], hosts={"good.TEST.": "127.0.0.1"})
    result = net_run(hutch, flags, *raw_requests([
        (3128, f"GET http://GOOD.TEST.:{web.port}/hello.txt HTTP/1.1\r\n\r\n".encode()),
        (3128, f"GET http://good.test:{web.port}/hello.txt HTTP/1.1\r\n\r\n".encode()),
        (3128, f"CONNECT Good.Test.:{recorder.port} HTTP/1.1\r\n\r\nQUIT".encode()),
        (1080, socks5(b"gOOd.tEsT.", recorder.port) + [b"QUIT"]),
    ]))
    upper, lower, connect, socks = raw_answers(result)
    assert status_of(upper) == 200 and upper.endswith(BODY.encode() + b"\n"), upper
    assert status_of(lower) == 200 and lower.endswith(BODY.encode() + b"\n"), lower
    assert connect == b"HTTP/1.1 200 Connection established\r\n\r\nQUIT", connect
    assert socks[2:4] == b"\x05\x00" and socks.endswith(b"QUIT"), socks
    assert recorder.received == [b"QUIT", b"QUIT"]
    assert [h["Host"] for _, _, h in web.requests] == [f"good.test:{web.port}"] * 2
    assert result["network_denied"] == []


def test_deny_wins_over_allow_from_a_config_file(hutch, web, tmp_path):
    config = tmp_path / "net.json"
    config.write_text(json.dumps({"sandbox": {"network": {
        "mode": "allow",
        "allowedDomains": ["*.good.test"],
        "deniedDomains": ["bad.good.test"],
        "hosts": ["ok.good.test=127.0.0.1", "bad.good.test=127.0.0.1"],
        "allowedAddresses": ["127.0.0.1"],
    }}}))
    url = "http://{}:%d/hello.txt" % web.port
    result = net_run(hutch, ["--config", str(config)], "sh", "-c",
                     f"{shcurl()} {url.format('ok.good.test')}; "
                     f"{shcurl()} {url.format('bad.good.test')}; "
                     f"{shcurl('-p', '-o', '/dev/null')} {url.format('bad.good.test')}; "
                     f"{shcurl('-x', 'socks5h://127.0.0.1:1080')} "
                     f"{url.format('bad.good.test')}")
    lines = result["stdout"].splitlines()
    assert lines[:2] == [BODY, "200"], result
    assert lines[2].startswith("hutch: ") and "denied" in lines[2] and "bad.good.test" in lines[2]
    assert lines[3] == "403"
    assert lines[4] == "403"  # CONNECT refused with 403
    assert "000" in lines[5:], result  # SOCKS5: no HTTP at all
    assert result["network_denied"] == ["bad.good.test"]
    assert [h["Host"] for _, _, h in web.requests] == [f"ok.good.test:{web.port}"]


# ---- native one-shot runs: what is refused, and listed --------------------------------

def test_denied_and_unlisted_names_are_refused_and_listed(hutch, web):
    """evil.test is not mapped either: the refusal comes before any lookup,
    so even a real name like example.com is never resolved."""
    result = net_run(hutch, net_flags(["good.test"], hosts={"good.test": "127.0.0.1",
                                                            "evil.test": "127.0.0.1"}),
                     "sh", "-c",
                     f"{shcurl()} http://evil.test:{web.port}/hello.txt; "
                     f"{shcurl('-p')} http://evil.test:{web.port}/hello.txt; "
                     f"{shcurl()} http://example.com/; "
                     f"{shcurl('-x', 'socks5h://127.0.0.1:1080')} http://EVIL.test:1/")
    out = result["stdout"]
    assert BODY not in out and web.requests == [], (result, web.requests)
    assert out.count("hutch: network access to evil.test is not allowed") == 1, out
    assert "hutch: network access to example.com is not allowed" in out
    assert "403" in out.split()
    assert result["network_denied"] == ["evil.test", "example.com"]


IP_LITERAL_URLS = ["127.0.0.1", "0x7f.1", "2130706433", "017700000001", "127.1", "[::1]",
                   "[::ffff:127.0.0.1]", "0x7f000001"]


def test_ip_literals_are_refused(hutch, web):
    items = [(3128, f"GET http://{h}:{web.port}/hello.txt HTTP/1.1\r\n\r\n".encode())
             for h in IP_LITERAL_URLS]
    items += [(3128, f"CONNECT 127.0.0.1:{web.port} HTTP/1.1\r\n\r\n".encode()),
              (3128, b"CONNECT 1.2.3.4:443 HTTP/1.1\r\n\r\n"),
              (3128, f"CONNECT [::1]:{web.port} HTTP/1.1\r\n\r\n".encode()),
              (1080, socks5(socket.inet_aton("127.0.0.1"), web.port, atyp=1)),
              (1080, socks5(socket.inet_pton(socket.AF_INET6, "::1"), web.port, atyp=4)),
              (1080, socks5(b"127.0.0.1", web.port))]
    result = net_run(hutch, net_flags(["good.test"]), *raw_requests(items))
    answers = raw_answers(result)
    for (port, _), answer in zip(items, answers):
        if port == 3128:
            assert status_of(answer) in (400, 403), answer
            assert b"\r\n\r\nhutch: " in answer, answer
        else:
            assert answer[:2] == b"\x05\x00" and answer[2:4] == b"\x05\x02", answer
    assert web.requests == []
    denied = result["network_denied"]
    assert denied, result
    assert "(malformed request)" not in denied, denied
    for form in IP_LITERAL_URLS + ["1.2.3.4"]:
        # (With or without the port: see test_session_audit_of_requests_refused_...)
        assert [d for d in denied if d == form or d.startswith(form + ":")], (form, denied)


def test_userinfo_and_encoded_at_are_refused(hutch, web):
    p = web.port
    heads = [f"GET http://good.test@evil.test/ HTTP/1.1\r\n\r\n",
             f"GET http://evil.test@good.test:{p}/hello.txt HTTP/1.1\r\n\r\n",
             f"GET http://good.test:{p}@evil.test/ HTTP/1.1\r\n\r\n",
             f"GET http://good.test%40evil.test/ HTTP/1.1\r\n\r\n",
             f"GET http://good.test%2eevil.test:{p}/ HTTP/1.1\r\n\r\n",
             f"CONNECT good.test@evil.test:443 HTTP/1.1\r\n\r\n",
             f"CONNECT evil.test@good.test:{p} HTTP/1.1\r\n\r\n",
             f"GET http://good.test:{p}\\@evil.test/ HTTP/1.1\r\n\r\n"]
    items = [(3128, h.encode()) for h in heads]
    items.append((1080, socks5(b"good.test@evil.test", p)))
    result = net_run(hutch, net_flags(["good.test"]), *raw_requests(items))
    answers = raw_answers(result)
    for head, answer in zip(heads, answers):
        assert status_of(answer) in (400, 403), (head, answer)
        assert b"\r\n\r\nhutch: " in answer, answer
    assert answers[-1][2:4] == b"\x05\x02", answers[-1]
    assert web.requests == []
    assert len(result["network_denied"]) >= 5, result
    assert all("@" in d or "%" in d or "\\" in d for d in result["network_denied"]), result


def test_nul_bytes_and_malformed_requests_are_refused(hutch, web):
    p = web.port
    items = [(3128, f"GET http://good.test\x00.evil.test:{p}/hello.txt HTTP/1.1\r\n\r\n".encode()),
             (3128, f"CONNECT good.test\x00evil.test:{p} HTTP/1.1\r\n\r\n".encode()),
             (3128, f"GET http://good.test:{p}/hello.txt HTTP/1.1\r\nX: a\x00b\r\n\r\n".encode()),
             (3128, b"GARBAGE\r\n\r\n"),
             (3128, f"GET http://good.test:{p}/hello.txt HTTP/1.1\n\n".encode()),
             (3128, f"GET https://good.test:{p}/hello.txt HTTP/1.1\r\n\r\n".encode()),
             (3128, f"GET /hello.txt HTTP/1.1\r\nHost: good.test:{p}\r\n\r\n".encode()),
             (3128, f"POST http://good.test:{p}/ HTTP/1.1\r\nContent-Length: 1\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n".encode()),
             (1080, socks5(b"good.test\x00evil", p))]
    result = net_run(hutch, net_flags(["good.test"]), *raw_requests(items))
    answers = raw_answers(result)
    for (port, data), answer in zip(items, answers):
        if port == 3128:
            assert status_of(answer) in (400, 403, 405), (data, answer)
            assert b"\r\n\r\nhutch: " in answer, answer
        else:
            assert answer[2:4] == b"\x05\x02", answer
    assert web.requests == []
    assert "(malformed request)" in result["network_denied"], result
    # NUL bytes are shown, not passed on.
    assert not [d for d in result["network_denied"] if "\x00" in d]


def test_metadata_address_is_refused_even_for_an_allowed_name(hutch):
    result = net_run(hutch, net_flags(["meta.test"], hosts={"meta.test": "169.254.169.254"},
                                      addresses=()),
                     "sh", "-c", f"{shcurl()} http://meta.test/latest/meta-data/; "
                                 f"{shcurl('-p')} http://meta.test/")
    out = result["stdout"]
    assert out.count("cloud metadata") >= 1 and "169.254.169.254" in out, out
    assert out.splitlines()[1] == "403", out
    assert result["network_denied"] == ["meta.test"]


def test_loopback_needs_an_address_rule(hutch, web):
    result = net_run(hutch, net_flags(["good.test"], addresses=()), "sh", "-c",
                     f"{shcurl()} http://good.test:{web.port}/hello.txt")
    out = result["stdout"]
    assert "loopback" in out and out.splitlines()[-1] == "403", out
    assert result["network_denied"] == ["good.test"]
    assert web.requests == []
    # 127.0.0.2 is loopback too, and outside the /32 that is allowed.
    result = net_run(hutch, net_flags(["good.test"], hosts={"good.test": "127.0.0.2"}),
                     "sh", "-c", f"{shcurl()} http://good.test:{web.port}/hello.txt")
    assert "loopback" in result["stdout"] and "127.0.0.2" in result["stdout"], result
    assert result["network_denied"] == ["good.test"]


def test_pipelined_connect_goes_to_the_first_upstream_only(hutch, recorder):
    """Everything after the first CONNECT's head belongs to its tunnel: a
    second CONNECT in the same write is data for good.test, not a request."""
    second = b"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n"
    data = (f"CONNECT good.test:{recorder.port} HTTP/1.1\r\nHost: good.test\r\n\r\n".encode()
            + second + b"QUIT")
    result = net_run(hutch, net_flags(["good.test"]), *raw_requests([(3128, data)]))
    answer, = raw_answers(result)
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\n" + second + b"QUIT"
    assert recorder.received == [second + b"QUIT"]
    assert result["network_denied"] == []


def test_keep_alive_second_request_goes_nowhere_else(hutch, web, recorder):
    p = web.port
    data = (f"GET http://good.test:{p}/hello.txt HTTP/1.1\r\nConnection: keep-alive\r\n"
            f"Proxy-Connection: keep-alive\r\n\r\n"
            f"GET http://evil.test:{recorder.port}/x HTTP/1.1\r\nHost: evil.test\r\n\r\n"
            f"GET http://good.test:{recorder.port}/y HTTP/1.1\r\n\r\n").encode()
    result = net_run(hutch, net_flags(["good.test", "evil.test"],
                                      hosts={"good.test": "127.0.0.1"}),
                     *raw_requests([(3128, data)]))
    answer, = raw_answers(result)
    assert answer.count(b"HTTP/1.") == 1 and status_of(answer) == 200, answer
    assert answer.endswith(BODY.encode() + b"\n")
    assert [(m, pa) for m, pa, _ in web.requests] == [("GET", "/hello.txt")]
    assert web.requests[0][2]["Connection"] == "close"
    assert recorder.received == []
    assert result["network_denied"] == []


def test_client_host_header_does_not_steer_the_upstream(hutch, web):
    data = (f"GET http://good.test:{web.port}/hello.txt HTTP/1.1\r\nHost: evil.test\r\n"
            "Proxy-Authorization: Basic eDp5\r\nX-Kept: 1\r\n\r\n").encode()
    result = net_run(hutch, net_flags(["good.test"]), *raw_requests([(3128, data)]))
    answer, = raw_answers(result)
    assert status_of(answer) == 200, answer
    _, path, headers = web.requests[0]
    assert headers["Host"] == f"good.test:{web.port}" and headers["X-Kept"] == "1"
    assert "Proxy-Authorization" not in headers
    assert result["network_denied"] == []


def test_without_the_proxy_nothing_is_reachable(hutch, web):
    """Programs that ignore the proxy settings: the sandbox's loopback is its
    own, other addresses have no route, names do not resolve."""
    code = f"""
import errno, socket
def tcp(host, port, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, port))
        return "connected"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
print("loopback", tcp("127.0.0.1", {web.port}))
print("loopback6", tcp("::1", {web.port}, socket.AF_INET6))
print("private", tcp("10.0.0.1", 80))
print("metadata", tcp("169.254.169.254", 80))
try:
    socket.getaddrinfo("example.com", 80)
    print("dns resolved")
except OSError as e:
    print("dns failed")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("8.8.8.8", 53))
    print("udp sent")
except OSError as e:
    print("udp", errno.errorcode.get(e.errno))
"""
    result = net_run(hutch, net_flags(["good.test", "example.com"]), "sh", "-c",
                     f"python3 -c '{code}'; "
                     f"curl -sS --max-time 5 --noproxy '*' http://good.test:{web.port}/hello.txt;"
                     f" echo curl=$?; getent hosts example.com; echo getent=$?")
    lines = result["stdout"].splitlines()
    assert lines[:7] == ["loopback ECONNREFUSED", "loopback6 ECONNREFUSED",
                         "private ENETUNREACH", "metadata ENETUNREACH", "dns failed",
                         "udp ENETUNREACH", "curl=6"], result
    assert lines[7] == "getent=2", result
    assert web.requests == []
    assert result["network_denied"] == []


def test_network_denied_is_absent_outside_allow_mode(hutch):
    proc = hutch.run("run", "--json", "--backend", "native", "--", "true")
    assert "network_denied" not in json.loads(proc.stdout)
    proc = hutch.run("run", "--json", "--backend", "native", "--net", "none", "--", "true")
    assert "network_denied" not in json.loads(proc.stdout)


def children_named(parent, name):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = pathlib.Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(l.split(":\t", 1) for l in status.splitlines() if ":\t" in l)
            if fields.get("Name") == name and int(fields.get("PPid", 0)) == parent:
                found.append(int(entry))
    return found


@pytest.fixture
def proxy_base():
    """A private, short directory for one-shot runs' proxy directories (hutch
    takes XDG_RUNTIME_DIR when it is the caller's and closed to others), so
    that a test finds its own run's socket without guessing. Only this
    directory is ever removed: never a path read back from the system."""
    base = pathlib.Path(tempfile.mkdtemp(prefix="hutch-t-", dir="/tmp"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def run_sockets(base):
    return sorted(base.glob("hutch-net-*/proxy.sock"))


@pytest.mark.parametrize("how", ["exit", "sigterm", "sigkill"])
def test_the_proxy_goes_away_with_the_run(hutch, how, proxy_base):
    proc = subprocess.Popen([HUTCH, "run", "--json", *net_flags(["good.test"]), "--",
                             "sleep", "2" if how == "exit" else "30"],
                            env={**hutch.env, "XDG_RUNTIME_DIR": str(proxy_base)},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proxies = wait_for(lambda: children_named(proc.pid, "hutch-proxy"))
        assert len(proxies) == 1, proxies
        socks = run_sockets(proxy_base)
        assert len(socks) == 1, socks
        sock = socks[0]
        # The caller's directory, which nobody else can write.
        st = sock.parent.stat()
        assert st.st_uid == os.geteuid() and st.st_mode & 0o022 == 0, oct(st.st_mode)
        if how != "exit":
            proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
        proc.communicate(timeout=30)
        assert wait_for(lambda: gone(proxies[0]))
        if how != "sigkill":
            assert not sock.parent.exists()
        else:
            # Nobody was left to clean up: the next run does, once it is
            # sure the directory is dead (see test_a_killed_runs_directory_is_removed_later).
            assert sock.parent.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_killed_runs_directory_is_removed_later(hutch, proxy_base, web):
    """A run killed with SIGKILL leaves its directory; a later run removes it
    once it can prove it dead (the caller's, older than a minute, its lock
    free, no proxy answering), and leaves every other one alone."""
    env = {**hutch.env, "XDG_RUNTIME_DIR": str(proxy_base)}
    past = time.time() - 120
    # A run killed with SIGKILL.
    killed = subprocess.Popen([HUTCH, "run", *net_flags(["good.test"]), "--", "sleep", "30"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    proxies = wait_for(lambda: children_named(killed.pid, "hutch-proxy"))
    dead, = [p.parent for p in run_sockets(proxy_base)]
    killed.kill()
    killed.wait()
    assert wait_for(lambda: gone(proxies[0]))
    # A live run, just as old: it holds its lock.
    url = f"http://good.test:{web.port}/hello.txt"
    workspace = hutch.tmp / "ws"
    workspace.mkdir()
    os.chmod(workspace, 0o777)  # the sandbox's user, nobody when this is root, looks in it
    live = subprocess.Popen([HUTCH, "run", "--json", "--workspace", str(workspace),
                             *net_flags(["good.test"]), "--", "sh", "-c",
                             f"while [ ! -e /workspace/go ]; do sleep 0.05; done; {shcurl()} {url}"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proxies = wait_for(lambda: children_named(live.pid, "hutch-proxy"))
    assert proxies
    live_dir, = [p.parent for p in run_sockets(proxy_base) if p.parent != dead]
    # An older hutch's live run (no lock, its proxy answers), a dead one with
    # a socket nobody listens on, an empty one, and a fresh one.
    older = proxy_base / "hutch-net-older1"
    answering = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    made = [older, proxy_base / "hutch-net-silent", proxy_base / "hutch-net-empty1",
            proxy_base / "hutch-net-fresh1"]
    for d in made:
        d.mkdir(mode=0o700)
    answering.bind(str(older / "proxy.sock"))
    answering.listen(4)
    silent.bind(str(made[1] / "proxy.sock"))
    silent.close()
    someone_elses = proxy_base / "hutch-net-other1"
    if ROOT:
        someone_elses.mkdir(mode=0o700)
        os.chown(someone_elses, 65534, 65534)
    try:
        for d in [dead, live_dir, *made[:3]] + ([someone_elses] if ROOT else []):
            os.utime(d, (past, past))
        result = load_result(hutch.run("run", "--json", *net_flags(["good.test"]), "--", "true",
                                       env={"XDG_RUNTIME_DIR": str(proxy_base)}))
        assert result["exit_code"] == 0, result
        left = sorted(p.name for p in proxy_base.iterdir())
        expected = sorted([live_dir.name, older.name, "hutch-net-fresh1"] +
                          (["hutch-net-other1"] if ROOT else []))
        assert left == expected, left
        (workspace / "go").touch()
        out, err = live.communicate(timeout=60)
        assert json.loads(out)["stdout"] == BODY + "\n200\n", (out, err)
    finally:
        answering.close()
        if live.poll() is None:
            live.kill()
            live.wait()


def test_the_hosts_file_resolves_under_the_proxys_filter(hutch, web):
    """localhost comes from /etc/hosts, read by the proxy's resolver after it
    dropped its privileges and loaded its seccomp filter."""
    result = net_run(hutch, ["--net", "allow:localhost", "--allow-address", "127.0.0.1"],
                     *curl("--noproxy", "", f"http://localhost:{web.port}/hello.txt"))
    assert result["stdout"] == BODY + "\n200\n", result
    assert result["network_denied"] == []


class FakeDns:
    """A DNS server on a loopback address of its own, port 53 (UDP): A records
    for the names given, an empty answer for AAAA, NXDOMAIN for the rest.
    Records the names asked."""

    def __init__(self, names):
        self.names = names
        self.address = f"127.{uuid.uuid4().int % 200 + 20}.{os.getpid() % 250 + 1}.53"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.address, 53))
        self.asked = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self):
        # Waits with a timeout, to see the stop event: a socket closed under
        # a blocked recvfrom() would not wake it.
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:  # the timeout too
                continue
            labels, i = [], 12
            while i < len(query) and query[i]:
                labels.append(query[i + 1:i + 1 + query[i]].decode(errors="replace"))
                i += 1 + query[i]
            name, qtype = ".".join(labels).lower(), int.from_bytes(query[i + 1:i + 3], "big")
            self.asked.append((name, qtype))
            question = query[12:i + 5]
            known = name in self.names
            answers = b""
            if known and qtype == 1:
                answers = (b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" +
                           socket.inet_aton(self.names[name]))
            flags = 0x8180 if known else 0x8183
            header = (query[:2] + flags.to_bytes(2, "big") + b"\x00\x01" +
                      (1 if answers else 0).to_bytes(2, "big") + b"\x00\x00\x00\x00")
            try:
                self.sock.sendto(header + question + answers, peer)
            except OSError:  # the asker is gone
                pass

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)
        self.sock.close()
        assert not self.thread.is_alive(), "the DNS server's thread did not end"


@pytest.mark.parametrize("backend", ["native", "docker"])
def test_dns_resolves_under_the_proxys_filter(hutch, web, tmp_path, backend, request):
    """A name resolved over DNS by the proxy (musl's resolver in hutch, glibc's
    in hutch-docker), after it loaded its seccomp filter: hutch runs in a
    mount namespace of its own whose /etc/resolv.conf names the test's DNS
    server."""
    if not ROOT:
        pytest.skip("a mount namespace with another /etc/resolv.conf needs root")
    if backend == "docker":
        request.getfixturevalue("docker_engine")
    dns = FakeDns({"dns.test": "127.0.0.1"})
    try:
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(f"nameserver {dns.address}\noptions timeout:2 attempts:2\n")
        url = f"http://dns.test:{web.port}/hello.txt"
        proc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv), HUTCH, "run",
             "--json", "--backend", backend, "--net", "allow:dns.test,nowhere.test",
             "--allow-address", "127.0.0.1", "--", "sh", "-c",
             f"{shcurl()} {url}; {shcurl()} http://nowhere.test/"],
            env=hutch.env, capture_output=True, timeout=120)
        result = load_result(proc)
        lines = result["stdout"].splitlines()
        assert lines[:2] == [BODY, "200"], result
        assert "cannot resolve nowhere.test" in lines[2] and lines[3] == "502", result
        assert ("dns.test", 1) in dns.asked and ("nowhere.test", 1) in dns.asked, dns.asked
        assert len(web.requests) == 1
    finally:
        dns.close()


# Runs hutch in a mount namespace whose /etc/passwd and /etc/group have the
# test's extra lines; prints, as JSON, the proxy's Uid and Gid lines, or
# hutch's exit status and error when it refused to start.
IDENTITY_DRIVER = r"""
import json, os, subprocess, sys, time
hutch, passwd, group = sys.argv[1], sys.argv[2], sys.argv[3]
subprocess.run(["mount", "--bind", passwd, "/etc/passwd"], check=True)
subprocess.run(["mount", "--bind", group, "/etc/group"], check=True)
run = subprocess.Popen([hutch, "run", "--net", "allow:good.test", "--", "sleep", "3"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
found = None
for _ in range(200):
    for p in os.listdir("/proc"):
        try:
            status = open(f"/proc/{p}/status").read()
        except OSError:
            continue
        fields = dict(l.split(":	", 1) for l in status.splitlines() if ":	" in l)
        if fields.get("Name") == "hutch-proxy" and fields.get("PPid") == str(run.pid):
            found = {"uid": fields["Uid"].split(), "gid": fields["Gid"].split()}
    if found or run.poll() is not None:
        break
    time.sleep(0.05)
out, err = run.communicate(timeout=30)
print(json.dumps({"proxy": found, "code": run.returncode, "stderr": err}))
"""


@pytest.mark.parametrize("case", ["user", "taken-uid", "taken-gid", "nobody", "sandbox-user"])
def test_the_proxys_identity_is_checked(hutch, tmp_path, case):
    """Root's proxy runs as the system user hutch-proxy when there is one,
    else as uid and gid 65520, which no account or group may then use; never
    as root, nobody, or the sandbox's user."""
    if not ROOT:
        pytest.skip("only root's proxy changes its identity")
    passwd = pathlib.Path("/etc/passwd").read_text()
    group = pathlib.Path("/etc/group").read_text()
    if "hutch-proxy:" in passwd and case != "user":
        pytest.skip("this machine has a user hutch-proxy: the fallback ids are not used")
    extra_passwd, extra_group, args = {
        "user": ("hutch-proxy:x:64990:64991::/nonexistent:/usr/sbin/nologin\n",
                 "hutch-proxy:x:64991:\n", []),
        "taken-uid": ("someone:x:65520:100::/nonexistent:/usr/sbin/nologin\n", "", []),
        "taken-gid": ("", "somegroup:x:65520:\n", []),
        "nobody": ("hutch-proxy:x:65534:65534::/nonexistent:/usr/sbin/nologin\n", "", []),
        "sandbox-user": ("", "", ["--user", "65520"]),
    }[case]
    if case == "user" and "hutch-proxy:" in passwd:
        extra_passwd = extra_group = ""
    (tmp_path / "passwd").write_text(passwd.rstrip("\n") + "\n" + extra_passwd)
    (tmp_path / "group").write_text(group.rstrip("\n") + "\n" + extra_group)
    driver = IDENTITY_DRIVER
    if args:
        driver = driver.replace('"--net", "allow:good.test",',
                                '"--net", "allow:good.test", ' + ", ".join(map(repr, args)) + ",")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                           driver, HUTCH, str(tmp_path / "passwd"), str(tmp_path / "group")],
                          env=hutch.env, capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc
    report = json.loads(proc.stdout)
    if case == "user":
        import pwd
        ids = (["64990"] * 4, ["64991"] * 4) if extra_passwd else (
            [str(pwd.getpwnam("hutch-proxy").pw_uid)] * 4,
            [str(pwd.getpwnam("hutch-proxy").pw_gid)] * 4)
        assert report["proxy"] == {"uid": ids[0], "gid": ids[1]}, report
        assert report["code"] == 0, report
        return
    assert report["proxy"] is None and report["code"] == 125, report
    line, = report["stderr"].strip().splitlines()
    words = {"taken-uid": ["uid 65520", "belongs to someone", "useradd --system"],
             "taken-gid": ["gid 65520", "belongs to the group somegroup", "useradd --system"],
             "nobody": ["the user hutch-proxy is 65534:65534", "nobody"],
             "sandbox-user": ["65520:65520", "--user"]}[case]
    for word in words:
        assert word in line, line


def test_bad_network_options_are_refused(hutch):
    for flags, word in [(["--net", "allow:good.test", "--add-host", "good.test"], "add-host"),
                        (["--net", "allow:good.test", "--allow-address", "10.0.0.1/8"],
                         "allow-address"),
                        (["--net", "allow:good.test", "--add-host", "good.test=not-an-ip"],
                         "add-host")]:
        proc = hutch.run("run", "--json", *flags, "--", "true")
        assert proc.returncode == 125, (flags, proc.returncode, proc.stdout, proc.stderr)
        assert b"hutch: " in proc.stderr


# ---- a server in a network namespace of its own (root) --------------------------------

@pytest.fixture
def netns_server(tmp_path):
    """An HTTP server at 10.123.0.2:8080 inside a network namespace joined to
    the host by a veth pair (10.123.0.1 on the host side)."""
    if not ROOT:
        pytest.skip("creating network namespaces needs root")
    if not shutil.which("ip"):
        pytest.skip("ip (iproute2) is not installed")
    name = "hutch-t-" + uuid.uuid4().hex[:8]
    host_if, ns_if = "hv" + name[-8:], "nv" + name[-8:]
    (tmp_path / "ns").mkdir()
    (tmp_path / "ns" / "hello.txt").write_text(BODY + "-netns\n")
    server = None
    try:
        for cmd in (["netns", "add", name],
                    ["link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", name],
                    ["addr", "add", "10.123.0.1/24", "dev", host_if],
                    ["link", "set", host_if, "up"],
                    ["-n", name, "addr", "add", "10.123.0.2/24", "dev", ns_if],
                    ["-n", name, "link", "set", ns_if, "up"],
                    ["-n", name, "link", "set", "lo", "up"]):
            subprocess.run(["ip", *cmd], check=True, capture_output=True)
        server = subprocess.Popen(["ip", "netns", "exec", name, "python3", "-m", "http.server",
                                   "8080", "--bind", "10.123.0.2"], cwd=tmp_path / "ns",
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def up():
            try:
                socket.create_connection(("10.123.0.2", 8080), timeout=1).close()
                return True
            except OSError:
                return False
        assert wait_for(up), "the server in the netns did not start"
        yield "10.123.0.2"
    finally:
        if server:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_server_in_a_network_namespace(hutch, netns_server):
    url = "http://priv.test:8080/hello.txt"
    hosts = {"priv.test": netns_server}
    result = net_run(hutch, net_flags(["priv.test"], hosts=hosts, addresses=("10.123.0.0/24",)),
                     "sh", "-c", f"{shcurl()} {url}; "
                                 "curl -sS --noproxy '*' --max-time 5 http://10.123.0.2:8080/; "
                                 "echo direct=$?")
    lines = result["stdout"].splitlines()
    assert lines[:2] == [BODY + "-netns", "200"], result
    assert lines[2] == "direct=7", result  # no route from the sandbox itself
    assert result["network_denied"] == []
    # Without the address rule the private address is refused.
    result = net_run(hutch, net_flags(["priv.test"], hosts=hosts, addresses=()),
                     "sh", "-c", f"{shcurl()} {url}")
    assert "private" in result["stdout"] and "10.123.0.2" in result["stdout"], result
    assert result["stdout"].splitlines()[-1] == "403"
    assert result["network_denied"] == ["priv.test"]


# ---- native sessions --------------------------------------------------------------------

def audit(sessions, key):
    path = pathlib.Path(sessions.status(key)["state_dir"]) / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def gone(pid, name="hutch-proxy"):
    """pid is no longer a live process called name (a zombie counts as gone:
    whoever reaps the detached proxy may take its time)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX" or comm(pid) != name


def comm(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def test_native_session_allows_denies_and_audits(sessions, web, tmp_path):
    config = tmp_path / "deny.json"
    config.write_text(json.dumps({"sandbox": {"network": {"deniedDomains": ["bad.good.test"]}}}))
    sessions.run("session", "create", "net1", "--config", str(config),
                 *net_flags(["good.test", "*.good.test"],
                            hosts={"good.test": "127.0.0.1", "bad.good.test": "127.0.0.1",
                                   "lo.good.test": "127.0.0.2"}), check=0)
    url = "http://{}:%d/hello.txt" % web.port
    result = exec_result(sessions, "net1", "--", *curl(url.format("good.test")))
    assert result["stdout"] == BODY + "\n200\n", result
    assert result["network_denied"] == []
    assert audit(sessions, "net1") == []

    result = exec_result(sessions, "net1", "--", "sh", "-c",
                         f"{shcurl()} {url.format('evil.test')}; "
                         f"{shcurl('-p')} {url.format('bad.good.test')}; "
                         f"{shcurl('-x', 'socks5h://127.0.0.1:1080')} "
                         f"{url.format('lo.good.test')}; "
                         f"{shcurl()} {url.format('evil.test')}")
    assert result["network_denied"] == ["evil.test", "bad.good.test", "lo.good.test"], result
    events = audit(sessions, "net1")
    assert len(events) == 4, events
    for e in events:
        assert set(e) == {"time", "event", "host", "port", "protocol", "reason", "session"}, e
        assert e["event"] == "network_denied" and e["session"] == "net1"
        assert e["port"] == web.port and e["time"].endswith("Z")
    assert [(e["host"], e["protocol"], e["reason"]) for e in events] == [
        ("evil.test", "http", "not in network.allowedDomains"),
        ("bad.good.test", "http-connect", "denied by network.deniedDomains"),
        ("lo.good.test", "socks5", "resolves to a loopback address (127.0.0.2)"),
        ("evil.test", "http", "not in network.allowedDomains"),
    ]
    # Each exec reports only its own refusals.
    result = exec_result(sessions, "net1", "--", *curl(url.format("good.test")))
    assert result["network_denied"] == [] and BODY in result["stdout"]
    assert [r[2]["Host"] for r in web.requests] == [f"good.test:{web.port}"] * 2


def test_session_audit_of_requests_refused_before_any_lookup(sessions, web):
    """IP literals and malformed requests are refused while parsing; their
    audit lines have the same shape as the others: the host as written (no
    port in it), the port apart, and the protocol that was spoken."""
    sessions.run("session", "create", "net4", *net_flags(["good.test"]), check=0)
    result = exec_result(sessions, "net4", *raw_requests([
        (3128, f"CONNECT 127.0.0.1:{web.port} HTTP/1.1\r\n\r\n".encode()),
        (3128, f"GET http://2130706433:{web.port}/ HTTP/1.1\r\n\r\n".encode()),
        (3128, b"GARBAGE\r\n\r\n"),
        (1080, socks5(socket.inet_aton("127.0.0.1"), web.port, atyp=1)),
    ]))
    answers = raw_answers(result)
    assert [status_of(a) for a in answers[:3]] == [403, 403, 400], answers
    assert answers[3][2:4] == b"\x05\x02", answers
    assert web.requests == []
    events = audit(sessions, "net4")
    assert [e["event"] for e in events] == ["network_denied"] * 4, events
    assert all(e["session"] == "net4" for e in events)
    assert "IP address literal" in events[0]["reason"], events
    assert "malformed" in events[2]["reason"], events
    assert events[2]["host"] == "" and "(malformed request)" in result["network_denied"]
    assert [(e["host"], e["port"], e["protocol"]) for e in events[:2] + events[3:]] == [
        ("127.0.0.1", web.port, "http-connect"),
        ("2130706433", web.port, "http"),
        ("127.0.0.1", web.port, "socks5")], events
    assert result["network_denied"] == ["127.0.0.1", "2130706433", "(malformed request)"], result


FLOOD = r"""
import socket, sys
for i in range(int(sys.argv[1])):
    c = socket.create_connection(("127.0.0.1", 3128))
    c.sendall(b"CONNECT 10.0.0.%d:443 HTTP/1.1\r\n\r\n" % (i % 250 + 1))
    c.recv(4096)
    c.close()
print("done")
"""


def test_a_flood_of_refusals_is_logged_up_to_a_cap(sessions):
    """A loop of refused requests cannot fill the disk: the proxy logs 10,000
    refusals, then one line saying the rest are not logged."""
    sessions.run("session", "create", "flood", *net_flags(["good.test"]), check=0)
    result = exec_result(sessions, "flood", "--timeout", "600", "--", "python3", "-c", FLOOD,
                         "10050")
    assert result["stdout"] == "done\n", result
    events = audit(sessions, "flood")
    assert len(events) == 10001, len(events)
    assert all(e["event"] == "network_denied" for e in events)
    assert "further ones are not logged" in events[-1]["reason"], events[-1]
    assert "host" not in events[-1] and events[-2]["host"].startswith("10.0.0.")


def test_native_session_proxy_lifecycle(sessions, web):
    sessions.run("session", "create", "net2", *net_flags(["good.test"]), check=0)
    record = json.loads(sessions.record_path("net2").read_text())
    proxy = record["proxy_pid"]
    assert comm(proxy) == "hutch-proxy"
    url = f"http://good.test:{web.port}/hello.txt"
    result = exec_result(sessions, "net2", "--", *curl(url))
    assert result["stdout"] == BODY + "\n200\n", result
    # A proxy that died (and was reaped) is started again on the next use.
    os.kill(proxy, 9)
    assert wait_for(lambda: not pathlib.Path(f"/proc/{proxy}").exists())
    result = exec_result(sessions, "net2", "--", "sh", "-c",
                         f"{shcurl()} {url}; {shcurl()} http://evil.test/")
    assert result["stdout"].startswith(BODY + "\n200\n"), result
    assert result["network_denied"] == ["evil.test"]
    proxy2 = json.loads(sessions.record_path("net2").read_text())["proxy_pid"]
    assert proxy2 != proxy and comm(proxy2) == "hutch-proxy"
    # stop and rm end it.
    sessions.run("session", "stop", "net2", check=0)
    assert wait_for(lambda: gone(proxy2))
    result = exec_result(sessions, "net2", "--", *curl(url))
    assert result["stdout"] == BODY + "\n200\n", result
    proxy3 = json.loads(sessions.record_path("net2").read_text())["proxy_pid"]
    assert comm(proxy3) == "hutch-proxy"
    sessions.run("session", "rm", "net2", check=0)
    assert wait_for(lambda: gone(proxy3))
    # So does prune, for an idle session.
    sessions.run("session", "create", "net2b", *net_flags(["good.test"]), check=0)
    proxy4 = json.loads(sessions.record_path("net2b").read_text())["proxy_pid"]
    age(sessions, "net2b", last_used_at=30)
    sessions.run("prune", check=0)
    assert sessions.ls() == [] and wait_for(lambda: gone(proxy4))


# Run as a child subreaper, so that the session's detached proxy, once
# killed, stays a zombie (its new parent, this script, does not reap it)
# while the next exec runs.
ZOMBIE_PROXY = r"""
import ctypes, json, os, subprocess, sys, time
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
hutch, url, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
subprocess.run([hutch, "session", "create", "zombie", *flags], check=True,
               stdin=subprocess.DEVNULL, capture_output=True)
status = json.loads(subprocess.run([hutch, "session", "status", "zombie", "--json"],
                                   check=True, capture_output=True).stdout)
proxy = json.load(open(status["state_dir"] + "/record.json"))["proxy_pid"]
os.kill(proxy, 9)
deadline = time.monotonic() + 10
while True:  # until it has died (and, being ours to reap, stays a zombie)
    state = open("/proc/%d/stat" % proxy).read().rsplit(")", 1)[1].split()[0]
    if state == "Z" or time.monotonic() > deadline:
        break
    time.sleep(0.02)
out = subprocess.run([hutch, "exec", "zombie", "--json", "--", "curl", "-sS", "--max-time",
                      "10", url], capture_output=True, stdin=subprocess.DEVNULL).stdout
print(json.dumps({"state": state, "result": json.loads(out)}))
"""


def test_a_killed_proxy_is_restarted_before_it_is_reaped(sessions, web):
    """A dead proxy nobody has reaped yet is a zombie: it has the same pid
    and start time as the live one had, but serves nothing. The next use
    must start a new one all the same."""
    proc = subprocess.run([sys.executable, "-c", ZOMBIE_PROXY, HUTCH,
                           f"http://good.test:{web.port}/hello.txt", *net_flags(["good.test"])],
                          env=sessions.hutch.env, capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["state"] == "Z", out  # the situation under test
    assert out["result"]["stdout"] == BODY + "\n", out["result"]["stderr"]
    assert out["result"]["network_denied"] == []


def test_a_killed_bridge_comes_back_in_a_session(sessions, web):
    """The bridge runs as the sandbox's user, so a command can kill it;
    hutch-init starts it again and later commands reach the proxy."""
    sessions.run("session", "create", "net4", *net_flags(["good.test"]), check=0)
    kill = ("import os, signal\n"
            "for p in filter(str.isdigit, os.listdir('/proc')):\n"
            "    if open('/proc/%s/comm' % p).read().strip() == 'hutch-bridge':\n"
            "        os.kill(int(p), signal.SIGKILL); print('killed')\n")
    result = exec_result(sessions, "net4", "--", "python3", "-c", kill)
    assert result["stdout"] == "killed\n", result
    url = f"http://good.test:{web.port}/hello.txt"
    assert wait_for(lambda: exec_result(sessions, "net4", "--", *curl(url))["stdout"]
                    == BODY + "\n200\n")
    result = exec_result(sessions, "net4", "--", *curl(f"http://evil.test:{web.port}/x"))
    assert result["network_denied"] == ["evil.test"], result


def test_session_exec_cannot_change_the_allowlist(sessions, web):
    sessions.run("session", "create", "net3", *net_flags(["good.test"]), check=0)
    proc = sessions.run("exec", "net3", "--net", "allow:evil.test", "--", "true")
    assert proc.returncode == 125 and b"hutch: " in proc.stderr, proc
    proc = sessions.run("exec", "net3", "--add-host", "evil.test=127.0.0.1", "--", "true")
    assert proc.returncode == 125, proc
    result = exec_result(sessions, "net3", "--", *curl(f"http://evil.test:{web.port}/hello.txt"))
    assert result["network_denied"] == ["evil.test"] and web.requests == []


# ---- docker ---------------------------------------------------------------------------

@pytest.fixture
def docker_sessions(docker_engine, hutch, tmp_path):
    s = Sessions(hutch, tmp_path)
    yield s
    s.cleanup()


def test_docker_run_allows_and_denies(hutch, docker_engine, web, recorder):
    url = f"http://good.test:{web.port}/hello.txt"
    script = (f"{shcurl()} {url}; {shcurl('-p')} {url}; "
              f"{shcurl('-x', 'socks5h://127.0.0.1:1080')} {url}; "
              f"{shcurl()} http://evil.test:{web.port}/hello.txt; "
              "python3 -c 'import urllib.request as u; "
              f"print(u.urlopen(\"{url}\", timeout=20).read().decode(), end=\"\")'; "
              f"curl -sS --noproxy '*' --max-time 5 {url}; echo direct=$?; "
              f"curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:{web.port}/; echo lo=$?")
    result = net_run(hutch, net_flags(["good.test"]), "sh", "-c", script, backend="docker")
    lines = result["stdout"].splitlines()
    assert result["backend"] == "docker" and result["isolated"] is True
    assert lines[:6] == [BODY, "200", BODY, "200", BODY, "200"], result
    assert "hutch: network access to evil.test is not allowed" in lines[6], result
    assert lines[7:] == ["403", BODY, "direct=6", "lo=7"], result
    assert result["network_denied"] == ["evil.test"]
    assert len(web.requests) == 4


def test_docker_run_under_gvisor(hutch, docker_engine, web):
    """gVisor keeps host unix sockets out unless runsc is told otherwise: with
    the runtime scripts/docker-up.sh registers with --host-uds=open the
    allowlist works; with plain runsc the sandbox stays closed and curl says
    why."""
    url = f"http://good.test:{web.port}/hello.txt"
    result = net_run(hutch, [*net_flags(["good.test"]), "--runtime", "runsc-uds"],
                     "sh", "-c", f"{shcurl()} {url}; {shcurl()} http://evil.test:{web.port}/x",
                     backend="docker")
    lines = result["stdout"].splitlines()
    assert lines[:2] == [BODY, "200"], result
    assert result["network_denied"] == ["evil.test"], result
    result = net_run(hutch, [*net_flags(["good.test"]), "--runtime", "runsc"],
                     *curl(url), backend="docker")
    assert "cannot reach the network proxy" in result["stdout"], result
    assert "--host-uds=open" in result["stdout"] and result["stdout"].endswith("502\n")
    assert len(web.requests) == 1


def test_docker_run_tunnel_and_git(hutch, docker_engine, web, recorder):
    make_git_repo(web.root)
    head = f"CONNECT good.test:{recorder.port} HTTP/1.1\r\n\r\n".encode()
    pipelined = head + b"CONNECT evil.test:443 HTTP/1.1\r\n\r\nQUIT"
    result = net_run(hutch, net_flags(["good.test", "git.test"]), "sh", "-c",
                     f"git clone -q http://git.test:{web.port}/repo.git /tmp/r && "
                     "git -C /tmp/r log --format=%s && " + " ".join(
                         f"'{a}'" for a in raw_requests([(3128, pipelined)])),
                     backend="docker")
    assert result["exit_code"] == 0, result
    log, answer = result["stdout"].split("\n", 1)
    assert log == "network-commit"
    assert bytes.fromhex(json.loads(answer)[0]) == (b"HTTP/1.1 200 Connection established\r\n\r\n"
                                                    b"CONNECT evil.test:443 HTTP/1.1\r\n\r\nQUIT")
    assert recorder.received == [b"CONNECT evil.test:443 HTTP/1.1\r\n\r\nQUIT"]
    assert result["network_denied"] == []


def test_docker_session_allows_denies_and_audits(docker_sessions, web):
    s = docker_sessions
    s.run("session", "create", "dnet", "--backend", "docker", *net_flags(["good.test"]), check=0)
    url = f"http://good.test:{web.port}/hello.txt"
    result = exec_result(s, "dnet", "--", *curl(url))
    assert result["backend"] == "docker" and result["stdout"] == BODY + "\n200\n", result
    assert result["network_denied"] == []
    result = exec_result(s, "dnet", "--", "sh", "-c",
                         f"{shcurl()} http://evil.test:{web.port}/; "
                         f"{shcurl('-x', 'socks5h://127.0.0.1:1080')} http://x.evil.test/; "
                         f"curl -sS --noproxy '*' --max-time 5 {url}; echo direct=$?")
    assert result["network_denied"] == ["evil.test", "x.evil.test"], result
    assert result["stdout"].splitlines()[-1] == "direct=6", result
    events = audit(s, "dnet")
    assert [(e["host"], e["port"], e["protocol"], e["reason"], e["session"]) for e in events] == [
        ("evil.test", web.port, "http", "not in network.allowedDomains", "dnet"),
        ("x.evil.test", 80, "socks5", "not in network.allowedDomains", "dnet")], events
    proxy = json.loads(s.record_path("dnet").read_text())["proxy_pid"]
    assert comm(proxy) == "hutch-proxy"
    # The proxy is restarted if it died, and ends with the session.
    os.kill(proxy, 9)
    assert wait_for(lambda: not pathlib.Path(f"/proc/{proxy}").exists())
    result = exec_result(s, "dnet", "--", *curl(url))
    assert result["stdout"] == BODY + "\n200\n", result
    proxy = json.loads(s.record_path("dnet").read_text())["proxy_pid"]
    s.run("session", "rm", "dnet", check=0)
    assert wait_for(lambda: gone(proxy))
    assert len(web.requests) == 2
