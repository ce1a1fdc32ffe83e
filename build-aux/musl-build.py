#!/usr/bin/env python3
"""Builds the static musl hutch and hutch-init for the glibc build (meson.build).

    musl-build.py MESON NINJA SRCDIR MUSLDIR OUTDIR [-Dopt=value ...] -- TARGET...

MUSLDIR is a second build of this project, configured with the musl cross
file and -Dmusl_static=true. It is set up the first time, and again when the
options passed on (the outer build's optimisation, debug, warning and install
options) change. Its ninja runs every time: it alone knows the musl targets'
dependencies, headers included. Each TARGET is then hard-linked into OUTDIR
when it is not that file already, so that OUTDIR/TARGET changes exactly when
the inner build relinked it.
"""
import os
import shutil
import subprocess
import sys


def run(cmd, env):
    r = subprocess.run(cmd, env=env)
    if r.returncode != 0:
        sys.exit(r.returncode)


def main():
    meson, ninja, srcdir, musldir, outdir = sys.argv[1:6]
    rest = sys.argv[6:]
    sep = rest.index('--')
    options, targets = rest[:sep], rest[sep + 1:]

    # The inner build depends on the options passed on, not on whatever the
    # environment of this ninja run holds (CC=clang for the fuzz build, CFLAGS).
    env = {k: v for k, v in os.environ.items()
           if k not in ('CC', 'CFLAGS', 'CPPFLAGS', 'LDFLAGS', 'PKG_CONFIG_PATH')}

    stamp = musldir + '.options'
    wanted = '\n'.join(options) + '\n'
    try:
        with open(stamp, encoding='utf-8') as f:
            current = f.read()
    except FileNotFoundError:
        current = None
    if current != wanted or not os.path.exists(os.path.join(musldir, 'build.ninja')):
        cmd = [meson, 'setup']
        if os.path.exists(os.path.join(musldir, 'meson-private', 'coredata.dat')):
            cmd.append('--reconfigure')
        cmd += ['--cross-file', os.path.join(srcdir, 'build-aux', 'musl-cross.ini'),
                # Debian's jansson source is in subprojects/packagecache/
                '--wrap-mode=nodownload',
                '-Dmusl_static=true'] + options + [musldir, srcdir]
        if os.path.exists(stamp):
            os.unlink(stamp)
        run(cmd, env)
        with open(stamp, 'w', encoding='utf-8') as f:
            f.write(wanted)

    run([ninja, '-C', musldir] + targets, env)

    for t in targets:
        built, out = os.path.join(musldir, t), os.path.join(outdir, t)
        try:
            if os.path.samefile(built, out):
                continue
        except FileNotFoundError:
            pass
        tmp = out + '.tmp'
        if os.path.lexists(tmp):
            os.unlink(tmp)
        try:
            os.link(built, tmp)
        except OSError:
            shutil.copy2(built, tmp)
        os.replace(tmp, out)


if __name__ == '__main__':
    main()
