#!/usr/bin/env bash
# Which of the named mutants do the given tests kill?  (The mutmut run keeps its own results.)
#   scripts/mutant_kills.sh "tests/engine/test_a.py tests/methods/test_b.py" NAME [NAME ...]
# Copies the test files into mutants/tests, activates each mutant through MUTANT_UNDER_TEST
# (mutmut's trampoline; child processes inherit it) and prints KILLED or survived per mutant.
set -u
tests=$1; shift
for f in $tests; do cp "$f" mutants/tests/; done
for name in "$@"; do
    if (cd mutants && OMP_NUM_THREADS=1 MUTANT_UNDER_TEST="$name" PYTHONPATH=src \
        ../.venv/bin/python -m pytest -p no:cacheprovider -x -q $tests >/dev/null 2>&1); then
        echo "survived $name"
    else
        echo "KILLED   $name"
    fi
done
