"""The plugin contract stays small and neutral: relayer.contract imports only the standard
library, relayer.errors and relayer.types (and those two import nothing else of the project),
and every role's method says when it is called and what it raises."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import relayer.contract as contract

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_PROJECT = {"relayer.errors", "relayer.types"}
NEUTRAL = ("relayer/contract.py", "relayer/errors.py", "relayer/types.py")
ROLES = (contract.Source, contract.LightClient, contract.LightClientFactory, contract.Destination,
         contract.UpdatePolicy, contract.UpdatePolicyFactory, contract.PolicyHost, contract.Signer,
         contract.FamilyConfig, contract.ChainAdapter)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_contract_imports_only_stdlib_errors_and_types() -> None:
    for rel in NEUTRAL:
        for module in _imports(ROOT / rel):
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__" or module in ALLOWED_PROJECT, \
                f"{rel} imports {module}"


def test_importing_the_contract_loads_no_plugin_or_third_party_module() -> None:
    code = ("import sys; before = set(sys.modules); import relayer.contract; "
            "print('\\n'.join(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] not in sys.stdlib_module_names)))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.split()
    assert set(loaded) <= {"relayer", "relayer.contract", "relayer.errors", "relayer.types"}, loaded


def test_every_role_method_has_a_docstring_saying_what_it_raises_or_that_it_does_not() -> None:
    for role in ROLES:
        for name, member in vars(role).items():
            if name.startswith("_"):
                continue
            fn = member.fget if isinstance(member, property) else member
            if not callable(fn):
                continue
            doc = inspect.getdoc(fn) or ""
            assert doc, f"{role.__name__}.{name} has no docstring"
            if not isinstance(member, property):
                assert "raise" in doc.lower(), f"{role.__name__}.{name}: the docstring does not say what it raises"
