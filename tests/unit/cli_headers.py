#!/usr/bin/env python3
"""The CLI is a client of the public API: every header src/cli/ includes is
include/hutch.h, the generic helpers of src/base/util.h, its own, or a
system header. TAP output, one check per file."""
import pathlib
import re
import sys

ALLOWED = {"hutch.h", "base/util.h"}
src = pathlib.Path(sys.argv[1])
files = sorted(p for p in (src / "cli").iterdir() if p.suffix in (".c", ".h"))
failed = 0
for n, path in enumerate(files, 1):
    wrong = [name for name in re.findall(r'^\s*#\s*include\s+"([^"]+)"', path.read_text(), re.M)
             if name not in ALLOWED and not name.startswith("cli/")]
    print(f"{'not ok' if wrong else 'ok'} {n} - {path.name} includes only hutch.h, base/util.h "
          f"and cli/" + (f" (also: {', '.join(wrong)})" if wrong else ""))
    failed += bool(wrong)
print(f"1..{len(files)}")
sys.exit(1 if failed else 0)
