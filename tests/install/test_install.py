"""`meson install` into a DESTDIR: every file of the install layout is there
(docs/install.md), the installed hutch works from there (it finds its helpers
relative to its own bin/), `man -l` renders every page without a warning, the
bash, zsh and fish completions load and complete, the sample config is valid
and changes nothing, the library builds a program through its pkg-config
file, and hutch's help names only files that are installed.

HUTCH_BUILD   the build directory to install from (default: build/ of this checkout)

Needs man-db, zsh and fish (scripts/setup.sh installs them).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest

from helpers import REPO

BUILD = pathlib.Path(os.environ.get("HUTCH_BUILD", REPO / "build"))


def build_option(name):
    options = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", str(BUILD)],
                                        capture_output=True, check=True).stdout)
    return next(o["value"] for o in options if o["name"] == name)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """(DESTDIR, the prefix inside it)"""
    dest = tmp_path_factory.mktemp("destdir")
    subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest), "--no-rebuild",
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    prefix = build_option("prefix")
    return dest, dest / prefix.lstrip("/")


def layout():
    """Every path the install must have, relative to the prefix, from the
    build's options: (path, must be executable)."""
    opt = {n: build_option(n) for n in ("bindir", "libdir", "libexecdir", "includedir",
                                          "datadir", "mandir")}
    commands = subprocess.run([str(BUILD / "hutch"), "help"], capture_output=True, text=True,
                              check=True).stdout.split("COMMANDS\n", 1)[1].split("\n\n", 1)[0]
    pages = [f"hutch-{line.split()[0]}.1" for line in commands.splitlines()
             if line.split()[0] != "help"]
    assert "hutch-run.1" in pages and "hutch-session.1" in pages
    data, doc, man = opt["datadir"], f"{opt['datadir']}/doc/hutch", opt["mandir"]
    paths = [
        (f"{opt['bindir']}/hutch", True),
        (f"{opt['libexecdir']}/hutch/hutch-docker", True),
        (f"{opt['libexecdir']}/hutch/hutch-init", True),
        (f"{opt['libdir']}/libhutch.so.1", False),
        (f"{opt['libdir']}/libhutch.so", False),
        (f"{opt['libdir']}/pkgconfig/hutch.pc", False),
        (f"{opt['includedir']}/hutch.h", False),
        (f"{man}/man1/hutch.1", False),
        (f"{man}/man5/hutch-config.5", False),
        *((f"{man}/man1/{p}", False) for p in pages),
        (f"{data}/bash-completion/completions/hutch", False),
        (f"{data}/zsh/site-functions/_hutch", False),
        (f"{data}/fish/vendor_completions.d/hutch.fish", False),
        (f"{data}/hutch/images/Dockerfile.sandbox", False),
        (f"{data}/hutch/bootstrap-image.sh", True),
        (f"{data}/hutch/config.sample.json", False),
        (f"{doc}/README.md", False),
        (f"{doc}/examples/run_command.c", False),
        *((f"{doc}/docs/{p.name}", False) for p in sorted((REPO / "docs").glob("*.md"))),
    ]
    return paths


def test_every_file_is_there(tree):
    _, prefix = tree
    missing = [p for p, _ in layout() if not (prefix / p).is_file()]
    assert missing == []
    not_executable = [p for p, x in layout() if x and not os.access(prefix / p, os.X_OK)]
    assert not_executable == []


def test_only_hutch_is_a_command(tree):
    """Helpers live in libexec/hutch/, not on PATH."""
    _, prefix = tree
    assert sorted(p.name for p in (prefix / build_option("bindir")).iterdir()) == ["hutch"]


def test_nothing_else_is_installed(tree):
    """The layout above is the whole install (versioned library names aside)."""
    dest, prefix = tree
    expected = {p for p, _ in layout()}
    libdir = build_option("libdir")
    installed = {str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file() or p.is_symlink()}
    extra = sorted(p for p in installed - expected
                   if not re.fullmatch(re.escape(libdir) + r"/libhutch\.so\.[0-9.]+", p))
    assert extra == []
    assert sorted(str(p.relative_to(dest)) for p in dest.iterdir()) == [
        str(pathlib.Path(build_option("prefix")).relative_to("/")).split("/")[0]]


def installed(tree, *args, **kw):
    """The installed hutch, run from the DESTDIR."""
    _, prefix = tree
    env = dict(os.environ, HUTCH_STATE_DIR=str(prefix.parent / "state"), HUTCH_NO_AUTO_PRUNE="1")
    env.pop("HUTCH_INIT", None)
    return subprocess.run([str(prefix / build_option("bindir") / "hutch"), *args],
                          capture_output=True, text=True, env=env, timeout=120, **kw)


def test_installed_hutch_runs_from_its_tree(tree):
    """bin/hutch finds hutch-docker and hutch-init in libexec/hutch/
    relative to itself: a native run, doctor (handed to hutch-docker), a
    session exec and a tool call (both need hutch-init)."""
    _, prefix = tree
    assert installed(tree, "--version").stdout.startswith("hutch ")
    proc = installed(tree, "run", "--", "sh", "-c", "echo native $(id -u)")
    assert proc.returncode == 0 and proc.stdout.startswith("native "), proc.stderr
    doctor = installed(tree, "doctor", "--json")
    checks = json.loads(doctor.stdout)["checks"]
    assert "docker" in checks and "hutch-docker" not in checks["docker"]["detail"], checks
    libexec = prefix / build_option("libexecdir") / "hutch"
    assert checks["sessions"]["ok"] and str(libexec) in checks["sessions"]["detail"], checks
    try:
        proc = installed(tree, "exec", "install-test", "--", "sh", "-c", "echo in session")
        assert proc.returncode == 0 and proc.stdout == "in session\n", proc.stderr
        proc = installed(tree, "tool", "install-test", "bash", '{"command": "echo tool"}')
        assert proc.returncode == 0 and json.loads(proc.stdout)["text"] == "tool\n", proc.stderr
    finally:
        installed(tree, "session", "rm", "install-test", "--workspaces")


def man_pages(tree):
    _, prefix = tree
    man = prefix / build_option("mandir")
    return sorted(man.glob("man*/*.[0-9]"))


def test_man_renders_every_page(tree):
    """man -l renders each page, and groff has nothing to say about it."""
    pages = man_pages(tree)
    assert len(pages) >= 12
    for page in pages:
        proc = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True,
                              text=True, env=dict(os.environ, MANWIDTH="80"))
        assert proc.returncode == 0 and proc.stderr == "", (page.name, proc.stderr)
        assert "NAME" in proc.stdout and "SEE ALSO" in proc.stdout, page.name


def rendered(tree, name):
    page = next(p for p in man_pages(tree) if p.name == name)
    return subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, check=True,
                          env=dict(os.environ, MANWIDTH="200")).stdout


def test_pages_say_what_hutch_help_says(tree):
    """Every option hutch help TOPIC names is in the page of that topic, and
    hutch-config(5) has every key of the schema with its default."""
    for page in man_pages(tree):
        if page.suffix != ".1" or page.name == "hutch.1":
            continue
        topic = page.stem.split("-", 1)[1]
        text = subprocess.run([str(BUILD / "hutch"), "help", topic], capture_output=True,
                              text=True, check=True).stdout
        man = rendered(tree, page.name)
        for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]*[a-z]", text)):
            assert option in man, (page.name, option)
    config = json.loads(subprocess.run([str(BUILD / "hutch"), "config", "check", "--no-config"],
                                       capture_output=True, check=True,
                                       env=dict(os.environ, HOME="/nonexistent")).stdout)["sandbox"]
    man = rendered(tree, "hutch-config.5")
    for key in keys(config):
        assert f"sandbox.{key}\n" in man, key


def keys(obj, prefix=""):
    """The key paths of a config document's "sandbox" object."""
    for k, v in obj.items():
        if isinstance(v, dict) and k != "env":
            yield from keys(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}"


def completion(tree, shell):
    _, prefix = tree
    data = prefix / build_option("datadir")
    return {"bash": data / "bash-completion/completions/hutch",
            "zsh": data / "zsh/site-functions/_hutch",
            "fish": data / "fish/vendor_completions.d/hutch.fish"}[shell]


@pytest.fixture(scope="module")
def session_key(tree):
    """A session the completions can offer."""
    proc = installed(tree, "session", "create", "complete-me")
    assert proc.returncode == 0, proc.stderr
    yield "complete-me"
    installed(tree, "session", "rm", "complete-me", "--workspaces")


# (words typed, the candidate that must be offered, one that must not)
CASES = [
    ("hutch ", "session", "--memory"),
    ("hutch se", "session", "run"),
    ("hutch run --mem", "--memory", "--follow"),
    ("hutch run --backend ", "docker", "run"),
    ("hutch run --net ", "bridge", "docker"),
    ("hutch run --memory 1g --fallback ", "spawn", "docker"),
    ("hutch session ", "create", "run"),
    ("hutch session log --fo", "--follow", "--memory"),
    ("hutch exec ", "complete-me", "run"),
    ("hutch session rm ", "complete-me", "bash"),
    ("hutch tool complete-me ", "edit", "complete-me"),
    ("hutch help ", "policy", "complete-me"),
    ("hutch image ", "build", "session"),
    ("hutch mcp --session ", "complete-me", "docker"),
]


def env_for(tree):
    _, prefix = tree
    return dict(os.environ, PATH=f"{prefix / build_option('bindir')}:{os.environ['PATH']}",
                HUTCH_STATE_DIR=str(prefix.parent / "state"))


def test_bash_completion_loads(tree):
    """The issue's check, verbatim."""
    proc = subprocess.run(["bash", "-c", f"source {completion(tree, 'bash')}; complete -p hutch"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "complete -F _hutch hutch\n", proc.stderr


def test_bash_completes(tree, session_key):
    script = [f"source {completion(tree, 'bash')}"]
    for line, _, _ in CASES:
        words = line.split(" ")
        script.append("COMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + f"); "
                      f"COMP_CWORD={len(words) - 1}; COMPREPLY=(); _hutch; "
                      "printf '%s\\n' \"${COMPREPLY[*]}\"")
    out = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True,
                         env=env_for(tree), check=True).stdout.splitlines()
    for (line, want, unwanted), got in zip(CASES, out):
        assert want in got.split() and unwanted not in got.split(), (line, got)


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes(tree, session_key):
    path = completion(tree, "fish")
    assert subprocess.run(["fish", "-n", str(path)]).returncode == 0
    script = [f"source {path}"] + [
        f"echo (complete -C'{line}' | string split -f1 \\t)" for line, _, _ in CASES]
    out = subprocess.run(["fish", "-c", "\n".join(script)], capture_output=True, text=True,
                         env=env_for(tree), check=True).stdout.splitlines()
    for (line, want, unwanted), got in zip(CASES, out):
        words = [w.split("=", 1)[-1] for w in got.split()]
        assert want in words and unwanted not in words, (line, got)


# A fresh interactive zsh on a pseudo terminal for each line: type it and
# TAB; a compadd wrapper writes down every candidate offered.
ZSH_DRIVER = r"""
zmodload zsh/zpty
for line in "$@"; do
  : > $OUT
  rm -f $OUT.ready
  zpty z zsh -f -i
  zpty -w z "PS1='' PROMPT=''; fpath=($DIR \$fpath); autoload -Uz compinit; compinit -u -D"
  zpty -w z "compadd() { local -a m; builtin compadd -O m \"\$@\"; print -r -- \"\${(j: :)m}\" >> $OUT; builtin compadd \"\$@\" }"
  zpty -w z "print ready > $OUT.ready"
  for i in {1..200}; do [[ -e $OUT.ready ]] && break; sleep 0.05; done
  zpty -w -n z "$line"$'\t'
  zpty -w -n z $'\C-u'
  zpty -w z "print -r -- '#end' >> $OUT"
  for i in {1..200}; do grep -q '^#end' $OUT && break; sleep 0.05; done
  zpty -d z
  print -r -- "$(grep -v '^#' $OUT | tr '\n' ' ')"
done
"""


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_completes(tree, session_key, tmp_path):
    path = completion(tree, "zsh")
    assert subprocess.run(["zsh", "-n", str(path)]).returncode == 0
    env = dict(env_for(tree), DIR=str(path.parent), OUT=str(tmp_path / "out"))
    proc = subprocess.run(["zsh", "-f", "-c", ZSH_DRIVER, "zsh", *(line for line, _, _ in CASES)],
                          capture_output=True, text=True, env=env, timeout=120)
    out = proc.stdout.splitlines()
    assert len(out) == len(CASES), (proc.stdout, proc.stderr)
    for (line, want, unwanted), got in zip(CASES, out):
        assert want in got.split() and unwanted not in got.split(), (line, got)


def test_sample_config_is_valid_and_sets_nothing(tree):
    """As installed, the sample config is every key commented out: valid,
    and the same as no config (a spawn run, which refuses any restriction
    that is set, runs with it). Every key uncommented, it is still valid and
    says the defaults."""
    _, prefix = tree
    sample = prefix / build_option("datadir") / "hutch/config.sample.json"
    default = installed(tree, "config", "check", "--no-config").stdout
    proc = installed(tree, "config", "check", str(sample))
    assert proc.returncode == 0 and proc.stdout == default, proc.stderr
    proc = installed(tree, "run", "--config", str(sample), "--backend", "spawn", "--", "true")
    assert proc.returncode == 0, proc.stderr
    text = sample.read_text()
    assert len(re.findall(r'^ *// "\w+": ', text, re.M)) == len(list(keys(json.loads(default)["sandbox"])))
    uncommented = re.sub(r'^( *)// ("\w+": )', r"\1\2", text, flags=re.M)
    (prefix.parent / "all.json").write_text(uncommented)
    proc = installed(tree, "config", "check", str(prefix.parent / "all.json"))
    assert proc.returncode == 0, proc.stderr
    everything = json.loads(proc.stdout)["sandbox"]
    expected = json.loads(default)["sandbox"]
    everything.pop("workspaceRoot"), expected.pop("workspaceRoot")
    assert everything == expected


def test_library_builds_a_program_through_pkg_config(tree, tmp_path):
    """libhutch, hutch.h and hutch.pc as installed: the example program."""
    dest, prefix = tree
    pc_dir = prefix / build_option("libdir") / "pkgconfig"
    env = dict(os.environ, PKG_CONFIG_PATH=str(pc_dir))
    flags = subprocess.run(["pkg-config", f"--define-variable=prefix={prefix}", "--cflags", "--libs",
                            "hutch"], capture_output=True, text=True, env=env, check=True).stdout.split()
    program = tmp_path / "run_command"
    libdir = prefix / build_option("libdir")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-o", str(program),
                    str(REPO / "examples" / "run_command.c"), *flags, f"-Wl,-rpath,{libdir}"],
                   check=True)
    ldd = subprocess.run(["ldd", str(program)], capture_output=True, text=True).stdout
    assert str(libdir / "libhutch.so.1") in ldd, ldd


def test_help_names_only_installed_files(tree):
    """hutch help and its pages name installed paths, never the checkout's
    (docs/..., scripts/..., images/..., README.md without a directory)."""
    dest, prefix = tree
    prefix_path = "/" + str(prefix.relative_to(dest))
    texts = [installed(tree, "help").stdout]
    for topic in ("run", "exec", "session", "tool", "mcp", "prune", "config", "image", "skill",
                  "doctor", "policy"):
        proc = installed(tree, "help", topic)
        assert proc.returncode == 0, topic
        texts.append(proc.stdout)
    texts += [rendered(tree, p.name) for p in man_pages(tree)]
    docdir = f"{prefix_path}/{build_option('datadir')}/doc/hutch"
    for text in texts:
        for bad in re.findall(r"(?<![/\w.-])(?:docs/\w+\.md|scripts/[\w-]+|images/\w|README\.md)", text):
            if bad == "README.md" and docdir in text:
                continue
            raise AssertionError(f"names {bad!r}, which is not installed there:\n{text[:400]}")
        for path in set(re.findall(re.escape(prefix_path) + r"/[\w/.+-]*\w", text)):
            assert (dest / path.lstrip("/")).exists(), path
