"""Name -> factory registries for models, norms and tasks. Unknown names list the known ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bnbench.errors import unknown_name

F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[F]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, F] = {}
        self._docs: dict[str, str] = {}
        self._aliases: dict[str, str] = {}  # common spellings of a name, for the did-you-mean of an unknown one

    def register(self, name: str, doc: str = "", aliases: tuple[str, ...] = ()) -> Callable[[F], F]:
        """Decorator: register `fn` under `name`; a second registration of a name is an error. `aliases` are
        spellings people write for it (`batchnorm` for `batch`): an unknown name that is one suggests `name`."""

        def add(fn: F) -> F:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = fn
            self._aliases.update({alias: name for alias in aliases})
            self._docs[name] = doc or (fn.__doc__ or "").strip().split("\n")[0]
            return fn

        return add

    def get(self, name: str) -> F:
        """The factory for `name`; a UserError listing the known names when there is none."""
        try:
            return self._entries[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._entries, self._aliases) from None

    def doc(self, name: str) -> str:
        return self._docs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))
