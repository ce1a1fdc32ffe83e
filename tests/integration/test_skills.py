"""Skills as skill runners write them (docs/docker.md, "Skills"): how ACTION
and the arguments reach an image's ENTRYPOINT or CMD, what an action that
runs out of memory answers, and the images a skill leaves behind (one per
skill; hutch image prune for the rest).

The skill runner's Dockerfile (shared/harness-shapes.md, section 5) is used
as it is, FROM a local stand-in for python:3.11-slim (no registry here):
hutch-sandbox:bookworm-slim with `python`, CMD python3 and a `pip` that
installs nothing. Runs against Docker and, in the Podman pass of
scripts/test.sh, Podman. Every image a test makes has a name of its own,
and only those are removed: other runs share the engine."""
import io
import json
import os
import pathlib
import re
import subprocess
import tarfile
import urllib.parse
import uuid

import pytest

from conftest import REPO
from helpers import BUSYBOX, DEBIAN, HUTCH, SOCKET, UnixHTTPConnection, engine, is_podman

pytestmark = pytest.mark.usefixtures("docker_engine")

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "harness-shapes"
SHAPES_DOC = REPO.parent / "shared" / "harness-shapes.md"
RUNNER_DOCKERFILE = (FIXTURES / "5-skill.Dockerfile").read_text()


def unique(name):
    return f"{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def short(name):
    """An image name as Docker shows it (Podman adds docker.io/library/ or localhost/)."""
    for prefix in ("docker.io/library/", "localhost/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def images():
    """Every image of the engine: [(short tags, id)]."""
    _, items = engine("GET", "/images/json", expect=200)
    return [([short(t) for t in (i.get("RepoTags") or []) if t != "<none>:<none>"], i["Id"])
            for i in items]


def tags_of(repo):
    return sorted(t for tags, _ in images() for t in tags if t.split(":")[0] == repo)


def exists(name):
    return engine("GET", f"/images/{name}/json")[0] == 200


def remove_images(repos=(), ids=()):
    """Removes this test's images: every tag of repos, and the given ids."""
    for tags, _ in images():
        for t in tags:
            if t.split(":")[0] in repos:
                engine("DELETE", f"/images/{t}?force=true")
    for i in ids:
        engine("DELETE", f"/images/{i}?force=true")


def engine_build(context, tag):
    """An image built by the engine itself, not by hutch: what hutch image
    prune must leave alone, also when it inherits hutch's labels."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, text in context.items():
            body = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    conn = UnixHTTPConnection(SOCKET, timeout=300)
    conn.request("POST", f"/build?t={urllib.parse.quote(tag)}&rm=1", body=data.getvalue(),
                 headers={"Content-Type": "application/x-tar"})
    resp = conn.getresponse()
    out = resp.read().decode()
    conn.close()
    assert resp.status == 200 and '"error"' not in out, out[-1000:]
    _, info = engine("GET", f"/images/{tag}/json", expect=200)
    return info["Id"]


def write_skill(d, files):
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if text.startswith("#!"):
            os.chmod(path, 0o755)
    return d


def repo_of(skill_dir):
    """hutch-skill-NAME of a skill directory (src/drivers/docker/skill.c)."""
    return "hutch-skill-" + re.sub(r"[^a-z0-9]", "-", skill_dir.name.lower())


@pytest.fixture
def skills(tmp_path):
    """Skill directories with names of their own; their images are removed after."""
    made = []

    def make(name, files):
        d = write_skill(tmp_path / unique(name), files)
        made.append(repo_of(d))
        return d

    yield make
    remove_images(made)


@pytest.fixture(scope="module")
def python_base(tmp_path_factory):
    """A stand-in for python:3.11-slim: python3 as python, CMD python3, root,
    and a pip that accepts only empty requirements (nothing to download)."""
    tag = f"hutch-test-python:{unique('base')}"
    ctx = write_skill(tmp_path_factory.mktemp("python-base"), {"Dockerfile": f"""\
FROM {DEBIAN}
USER root
RUN ln -s /usr/bin/python3 /usr/local/bin/python && \\
    printf '%s\\n' '#!/bin/sh' \\
      '# offline stand-in: pip install -r FILE, FILE without requirements' \\
      '[ "$1 $2" = "install -r" ] && ! grep -qv "^ *\\(#.*\\)\\?$" "$3" && exit 0' \\
      'echo "pip: this stand-in installs nothing" >&2; exit 1' > /usr/local/bin/pip && \\
    chmod 755 /usr/local/bin/pip
WORKDIR /
CMD ["python3"]
"""})
    proc = subprocess.run([HUTCH, "image", "build", str(ctx), "-t", tag, "-q"],
                          capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    yield tag
    engine("DELETE", f"/images/{tag}?force=true")


def skill_json(hutch, *args, check=0):
    proc = hutch.run("skill", "run", *args, check=check)
    return json.loads(proc.stdout), proc


# The runner's module: argv, the environment and stdin all carry the call.
MYSKILL = """\
import json, os, sys
action, args = sys.argv[1], json.loads(sys.argv[2])
assert json.load(sys.stdin) == args, "stdin"
assert os.environ["SKILL_ACTION"] == action, "SKILL_ACTION"
assert json.loads(os.environ["SKILL_ARGS"]) == args, "SKILL_ARGS"
if action == "send_message":
    print(json.dumps({"status": "success", "output": f"sent {args['text']} to {args['chat_id']}",
                      "message_id": 7, "cwd": os.getcwd(), "uid": os.getuid()}))
elif action == "lookup":
    print(json.dumps({"status": "success", "result": 42}))
else:
    print(json.dumps({"status": "error", "output": None, "error": f"no action {action}"}))
"""


def test_the_fixture_is_the_documented_dockerfile():
    if not SHAPES_DOC.exists():
        pytest.skip(f"{SHAPES_DOC} is not here")
    assert RUNNER_DOCKERFILE in SHAPES_DOC.read_text()


def test_cmd_only_python_skill_as_the_runner_writes_it(hutch, skills, python_base):
    """CMD ["python", "-m", "skills.myskill"] and nothing else: the module
    gets ACTION and the arguments, runs in its WORKDIR as uid 1000, and its
    {"status", "output", ...} is the answer."""
    dockerfile = RUNNER_DOCKERFILE.replace("FROM python:3.11-slim", f"FROM {python_base}")
    assert dockerfile != RUNNER_DOCKERFILE
    d = skills("telegram", {"Dockerfile": dockerfile, "requirements.txt": "# none\n",
                            "skills/__init__.py": "", "skills/myskill.py": MYSKILL})
    args = {"text": "Hello!", "chat_id": "123"}
    answer, _ = skill_json(hutch, str(d), "send_message", "--args", json.dumps(args),
                           "--cpus", "0.5", "--memory", "256m")
    assert answer == {"status": "success", "output": "sent Hello! to 123", "message_id": 7,
                      "cwd": "/app", "uid": 1000, "error": None}
    answer, _ = skill_json(hutch, str(d), "send_message", "--args", json.dumps(args), "--json",
                           "--memory", "256m")
    assert answer["status"] == "success" and answer["limits_via"] == "docker", answer
    assert answer["exit_code"] == 0 and answer["backend"] == "docker"
    answer, _ = skill_json(hutch, str(d), "delete_everything")
    assert answer == {"status": "error", "output": None, "error": "no action delete_everything"}
    # "result" is the run's result in the library's answer: such an object is output.
    answer, _ = skill_json(hutch, str(d), "lookup")
    assert answer == {"status": "ok", "output": {"status": "success", "result": 42},
                      "error": None}


def test_cmd_only_shell_skill_gets_action_and_args(hutch, skills):
    d = skills("shell", {
        "Dockerfile": f'FROM {BUSYBOX}\nCOPY skill.sh /skill.sh\nCMD ["sh", "/skill.sh"]\n',
        "skill.sh": 'echo "$#: $1 $2"; echo "$SKILL_ACTION ${SKILL_ARGS-unset}"; cat\n'})
    answer, _ = skill_json(hutch, str(d), "look", "--args", '{"q": [1, 2]}')
    assert answer == {"status": "ok", "error": None,
                      "output": '2: look {"q":[1,2]}\nlook {"q":[1,2]}\n{"q": [1, 2]}'}
    # Beyond what one argument may hold: "-" (read stdin), no SKILL_ARGS.
    big = json.dumps({"blob": "x" * 70000})
    answer, _ = skill_json(hutch, str(d), "look", "--args", big)
    assert answer["output"] == f"2: look -\nlook unset\n{big}", answer["output"][:200]


def test_inherited_cmd_and_own_entrypoint(hutch, skills):
    """A CMD from the base image (the sandbox image's bash) is not the
    skill's program: ACTION is a command. With an ENTRYPOINT of its own,
    ACTION is its argument, as `docker run IMAGE ACTION` (CMD replaced)."""
    tool = "#!/bin/sh\necho \"argv=$* action=$SKILL_ACTION args=$SKILL_ARGS stdin=$(cat)\"\n"
    d = skills("inherited", {"Dockerfile": f"FROM {DEBIAN}\nCOPY tool /usr/local/bin/\n",
                             "tool": tool})
    answer, _ = skill_json(hutch, str(d), "tool", "--args", '{"a": 1}')
    assert answer["output"] == 'argv= action=tool args={"a":1} stdin={"a": 1}\n', answer
    d = skills("entrypoint", {
        "Dockerfile": f'FROM {BUSYBOX}\nCOPY tool /tool\nENTRYPOINT ["/tool"]\nCMD ["--help"]\n',
        "tool": tool})
    answer, _ = skill_json(hutch, str(d), "greet", "--args", '{"a": 1}')
    assert answer["output"] == 'argv=greet action=greet args={"a":1} stdin={"a": 1}\n', answer


def test_oom_killed_skill_says_why(hutch, skills):
    d = skills("hog", {"Dockerfile": f"FROM {DEBIAN}\nCOPY hog /usr/local/bin/\n",
                       "hog": "#!/bin/sh\nexec python3 -c 'bytearray(400 << 20)'\n"})
    answer, proc = skill_json(hutch, str(d), "hog", "--memory", "48m", "--json", check=137)
    assert answer["status"] == "error" and answer["signal"] == 9, answer
    assert answer["limits_via"] == "docker"
    assert answer["error"] and "48m" in answer["error"] and "memory" in answer["error"], answer
    if is_podman():  # Podman does not report it (docs/docker.md, Podman)
        assert "SIGKILL" in answer["error"] and answer["oom_killed"] is False
    else:
        assert answer["oom_killed"] is True
        assert answer["error"].startswith("the skill ran out of memory"), answer
    plain, _ = skill_json(hutch, str(d), "hog", "--memory", "48m", check=137)
    assert plain == {"status": "error", "output": "", "error": answer["error"]}


def test_rebuilds_leave_one_tag(hutch, skills):
    d = skills("rebuilt", {"Dockerfile": f"FROM {BUSYBOX}\nCOPY greet /usr/local/bin/\n",
                           "greet": "#!/bin/sh\necho v0\n"})
    built = []
    for version in (1, 2, 3):
        (d / "greet").write_text(f"#!/bin/sh\necho v{version}\n")
        proc = hutch.run("skill", "build", str(d), check=0)
        built.append(proc.stdout.decode().strip())
        assert tags_of(repo_of(d)) == [built[-1]], (version, tags_of(repo_of(d)))
        if version > 1:
            assert f"removed the older image {built[-2]}" in proc.stderr.decode()
    answer, _ = skill_json(hutch, str(d), "greet")
    assert answer["output"] == "v3\n"
    assert tags_of(repo_of(d)) == [built[-1]]


def test_image_prune(hutch, skills, tmp_path):
    """An old tag that a container holds is kept (and said so) at the build
    and by prune, then removed by prune once free; dangling images hutch
    built go; the current tag, images built on top of hutch's by someone
    else (which carry its labels), and images hutch did not build stay."""
    d = skills("pruned", {"Dockerfile": f"FROM {BUSYBOX}\nCOPY greet /usr/local/bin/\n",
                          "greet": "#!/bin/sh\necho v1\n"})
    repo = repo_of(d)
    old = hutch.run("skill", "build", str(d), check=0).stdout.decode().strip()
    holder = unique("hutch-test-holder")
    engine("POST", f"/containers/create?name={holder}", {"Image": old, "Cmd": ["true"]},
           expect=201)
    image_repo = unique("hutch-test-prune")
    foreign_repo = unique("hutch-test-foreign")
    ids = []
    try:
        (d / "greet").write_text("#!/bin/sh\necho v2\n")
        proc = hutch.run("skill", "build", str(d), check=0)
        current = proc.stdout.decode().strip()
        assert f"kept {old}" in proc.stderr.decode() and "prune" in proc.stderr.decode()
        assert sorted(tags_of(repo)) == sorted([old, current])

        # hutch image build twice under one tag: the first is left dangling.
        ctx = write_skill(tmp_path / "ctx", {"Dockerfile": f"FROM {BUSYBOX}\nCOPY a /\n",
                                             "a": "1\n"})
        hutch.run("image", "build", str(ctx), "-t", f"{image_repo}:1", "-q", check=0)
        _, first = engine("GET", f"/images/{image_repo}:1/json", expect=200)
        (ctx / "a").write_text("2\n")
        hutch.run("image", "build", str(ctx), "-t", f"{image_repo}:1", "-q", check=0)
        dangling = first["Id"]
        ids.append(dangling)
        # Built by the engine on top of hutch's images, so with hutch's labels:
        # a tag in the skill's repository, and a dangling one.
        ids.append(engine_build({"Dockerfile": f"FROM {current}\nRUN echo foreign\n"},
                                f"{repo}:foreign"))
        for n in (1, 2):
            ids.append(engine_build({"Dockerfile": f"FROM {image_repo}:1\nRUN echo {n}\n"},
                                    f"{foreign_repo}:1"))
        foreign_dangling = ids[-2]
        assert not [t for tags, i in images() if i == foreign_dangling for t in tags]

        names = [repo, image_repo, foreign_repo]
        listed = json.loads(hutch.run("image", "prune", *names, "--dry-run", "--json",
                                      check=0).stdout)
        assert sorted((e["name"], e["reason"], e["removed"]) for e in listed) == sorted([
            (old, "old skill image", False), (dangling[7:19], "dangling", False)]), listed
        assert exists(old) and exists(dangling)

        proc = hutch.run("image", "prune", *names, check=0)
        assert proc.stdout.decode() == f"removed {dangling[7:19]} (dangling)\n", proc.stdout
        assert f"kept {old}" in proc.stderr.decode()
        assert exists(old) and not exists(dangling)

        engine("DELETE", f"/containers/{holder}?force=true", expect=204)
        proc = hutch.run("image", "prune", *names, "--json", check=0)
        assert [(e["name"], e["removed"], e["error"]) for e in json.loads(proc.stdout)] == [
            (old, True, None)]
        assert not exists(old)
        assert sorted(tags_of(repo)) == sorted([current, f"{repo}:foreign"])
        assert exists(f"{image_repo}:1") and exists(foreign_dangling) and exists(BUSYBOX)
        assert json.loads(hutch.run("image", "prune", *names, "--json", check=0).stdout) == []
        answer, _ = skill_json(hutch, str(d), "greet")
        assert answer["output"] == "v2\n"
    finally:
        engine("DELETE", f"/containers/{holder}?force=true")
        remove_images([repo, image_repo, foreign_repo], ids)


@pytest.mark.parametrize("sub", ["build", "run"])
@pytest.mark.parametrize("flag", [["--backend", "host"], ["--backend=native"]])
def test_another_backend_is_refused_not_ignored(hutch, tmp_path, sub, flag):
    """A skill runs in a container of its own image: asking for another
    backend on the command line is an error, never silently docker."""
    (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\n")
    args = [str(tmp_path), "act"] if sub == "run" else [str(tmp_path)]
    proc = hutch.run("skill", sub, *args, *flag)
    assert proc.returncode == 125 and proc.stdout == b""
    assert "does not apply: remove it" in proc.stderr.decode()
    assert len(proc.stderr.decode().strip().splitlines()) == 1
