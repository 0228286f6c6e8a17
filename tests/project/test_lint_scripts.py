"""The structure checks of `make lint`: private names across modules, function lengths."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def private_imports():
    return load_script("check_private_imports")


@pytest.fixture(scope="module")
def function_length():
    return load_script("check_function_length")


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "faithcam" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_private_names_across_modules_are_offences(tmp_path, private_imports) -> None:
    src = write_tree(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "from faithcam.a._common import helper\n",
            "a/_common.py": "def helper():\n    pass\n\ndef _inner():\n    pass\n",
            "a/user.py": "from faithcam.a._common import helper, _inner\n",
            "a/box.py": "class Box:\n    def __init__(self):\n        self._items = []\n",
            "b/__init__.py": "",
            "b/reader.py": (
                "from faithcam.a import _common\n"
                "import faithcam.a.box as box\n"
                "from faithcam.a.user import _hidden\n"
                "def f(b, m):\n"
                "    return b._items, box._thing, m._buffers, _common.helper\n"
            ),
        },
    )
    found = private_imports.offences(src)
    text = "\n".join(found)
    # allowed: a private module inside its own package, self._x, torch-style internals
    assert "a/__init__.py" not in text and "_buffers" not in text
    assert "imports faithcam.a._common._inner" in text  # private name of a sibling module
    assert "faithcam.b.reader imports faithcam.a._common" in text  # private module, other package
    assert "faithcam.b.reader imports faithcam.a.user._hidden" in text
    assert "faithcam.b.reader reads faithcam.a.box._thing" in text  # through an imported module
    assert "faithcam.b.reader reads faithcam.a.box._items" in text  # a class's private attribute
    assert len(found) == 5


def test_no_offence_prints_so_and_passes(tmp_path, private_imports, capsys) -> None:
    src = write_tree(tmp_path, {"__init__.py": "", "m.py": "def f():\n    return 1\n"})
    assert private_imports.main([str(src)]) == 0
    assert "no private name crosses a module" in capsys.readouterr().out


def test_function_length_counts_decorators_and_nested_functions(tmp_path, function_length):
    body = "\n".join(f"    x{i} = {i}" for i in range(79))
    src = write_tree(
        tmp_path,
        {
            "long.py": f"@staticmethod\ndef long():\n{body}\n",  # 81 lines with the decorator
            "short.py": "class C:\n    def short(self):\n        def inner():\n            pass\n",
        },
    )
    lengths = {name: n for _, name, n in function_length.function_lengths(src / "faithcam/long.py")}
    assert lengths == {"long": 81}
    short = function_length.function_lengths(src / "faithcam/short.py")
    assert [(name, n) for _, name, n in short] == [("C.short", 3), ("C.short.inner", 2)]
    assert function_length.main([str(src)]) == 1
    assert function_length.main([str(src), "--max", "81"]) == 0
