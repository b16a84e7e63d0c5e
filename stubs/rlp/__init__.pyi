# Type information for the parts of rlp (PyPI `rlp`, which ships none) that this project uses;
# mypy reads it through [tool.mypy] mypy_path. Add a name here when the code starts using it.
from typing import Any

from . import exceptions as exceptions
from . import sedes as sedes

def encode(obj: Any, sedes: Any = None, infer_serializer: bool = True, cache: bool = True) -> bytes: ...
def decode(rlp: bytes, sedes: Any = None, strict: bool = True, recursive_cache: bool = False, **kwargs: Any) -> Any: ...
