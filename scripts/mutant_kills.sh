#!/usr/bin/env bash
# Which of the named mutants do the given tests kill?  (The mutmut run keeps its own results.)
#   scripts/mutant_kills.sh "tests/engine/test_a.py tests/methods/test_b.py::test_c" NAME [NAME ...]
# Copies the test files to the same paths under mutants/ (the helpers of tests/ too), runs them
# first with no mutant active (they must pass: "clean passed"), then activates each mutant
# through MUTANT_UNDER_TEST (mutmut's trampoline; child processes inherit it) and prints KILLED
# or survived per mutant. A test selection that pytest cannot collect (exit code 4 or 5) stops
# the script instead of counting as a kill. PYTHON overrides the interpreter (default
# ../.venv/bin/python, relative to mutants/).
set -u
tests=$1; shift
python=${PYTHON:-../.venv/bin/python}
for spec in $tests; do
    f=${spec%%::*}
    mkdir -p "mutants/$(dirname "$f")"
    cp "$f" "mutants/$f"
done
(cd tests && find . -maxdepth 1 -name '*.py' -exec cp {} ../mutants/tests/ \;)
run() {
    (cd mutants && OMP_NUM_THREADS=1 MUTANT_UNDER_TEST="$1" PYTHONPATH=src \
        "$python" -m pytest -p no:cacheprovider -W ignore -x -q $tests >/dev/null 2>&1)
}
run ""
code=$?
if [ "$code" -ne 0 ]; then
    echo "the tests fail (exit code $code) with no mutant active: nothing to judge" >&2
    exit 1
fi
echo "clean passed"
for name in "$@"; do
    run "$name"
    code=$?
    case $code in
        0) echo "survived $name" ;;
        4|5) echo "tests not collected (exit code $code) for $name" >&2; exit 1 ;;
        *) echo "KILLED   $name (exit code $code)" ;;
    esac
done
