#!/usr/bin/env python3
"""Counts test results for CI: every testcase of every JUnit file, plus one
result for each step without a JUnit file. A step that failed while its JUnit
file shows no failure (a crash, a build error) counts as one more failure.
Prints the failures, then the closing line: N passed, N failed, N skipped."""
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
failures = []
with open(sys.argv[1]) as steps:
    for line in steps:
        name, rc, junit = line.split()
        rc = int(rc)
        if junit == "-":
            if rc == 0:
                passed += 1
            else:
                failed += 1
                failures.append(f"{name} (exit {rc})")
            continue
        try:
            root = ET.parse(junit).getroot()
        except (OSError, ET.ParseError):
            failed += 1
            failures.append(f"{name} (exit {rc}, no results)")
            continue
        step_failed = 0
        for case in root.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                step_failed += 1
                failures.append(f"{name}: {case.get('classname')}::{case.get('name')}")
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
        if rc != 0 and step_failed == 0:
            failed += 1
            failures.append(f"{name} (exit {rc})")

for f in failures:
    print(f"FAILED {f}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
