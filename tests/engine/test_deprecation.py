"""Old keyword names (faithcam.engine.deprecation): each old name in the table is moved to its
new one, whatever its place in the table, with a warning that names the function."""

from __future__ import annotations

import pytest

from faithcam.engine.deprecation import renamed_keywords
from faithcam.errors import FaithcamTypeError
from tests.helpers import warnings_of


@renamed_keywords(first_old="first", second_old="second")
def _two_renames(first: int = 0, second: int = 0) -> tuple[int, int]:
    return first, second


def test_an_old_keyword_late_in_the_table_is_renamed_when_an_earlier_one_is_not_given():
    value, caught = warnings_of(lambda: _two_renames(second_old=2))
    assert value == (0, 2)
    assert [str(w.message) for w in caught] == [
        "_two_renames: second_old is deprecated and will be removed in the next release; use "
        "second"
    ]
    assert caught[0].category is DeprecationWarning


def test_both_old_keywords_are_renamed_with_one_warning_each():
    value, caught = warnings_of(lambda: _two_renames(first_old=1, second_old=2))
    assert value == (1, 2)
    assert [str(w.message).split(":")[1].split(" is")[0] for w in caught] == [
        " first_old",
        " second_old",
    ]


def test_an_old_and_a_new_name_together_are_refused():
    with pytest.raises(FaithcamTypeError) as refused:
        _two_renames(second_old=2, second=3)
    assert str(refused.value) == "_two_renames: got both second_old and second; pass second only"
