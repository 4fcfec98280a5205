"""`aichain_audit.api` is exactly its `__all__`, and the README lists exactly that."""

from __future__ import annotations

import importlib.util
import inspect
import types

from aichain_audit import api
from tests.conftest import REPO


def test_star_import_gives_exactly_the_api() -> None:
    namespace: dict[str, object] = {}
    exec("from aichain_audit.api import *", namespace)
    del namespace["__builtins__"]
    assert sorted(namespace) == sorted(api.__all__)
    assert len(set(api.__all__)) == len(api.__all__)
    assert not any(isinstance(v, types.ModuleType) for v in namespace.values())
    for name in ("os", "hashlib", "dataclass", "Path", "TYPE_CHECKING"):
        assert name not in namespace


def test_every_public_function_and_type_of_the_api_is_in_all() -> None:
    defined = {
        name
        for name, value in vars(api).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == api.__name__
    }
    assert defined <= set(api.__all__)
    for name in ("VerifyRequest", "verify", "report", "diff", "log_lineage", "anchor", "revoke",
                 "check_ledger", "ChainSettings", "Verification"):  # fmt: skip
        assert name in api.__all__
    assert "registry_command" not in api.__all__


def test_the_readme_lists_exactly_the_api() -> None:
    spec = importlib.util.spec_from_file_location("readme", REPO / "samples" / "readme.py")
    assert spec is not None and spec.loader is not None
    readme = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme)
    assert readme.api_problems((REPO / "README.md").read_text(encoding="utf-8")) == []
    assert "registry_command" not in (REPO / "README.md").read_text(encoding="utf-8")
