#!/bin/sh
# Stands in for the test suite when configure did not find Check.
echo "The Check unit-test framework was not found when configure ran." >&2
echo "Install it (Debian: apt-get install check) and run ./configure again." >&2
exit 1
