"""The public API is exactly what ``corestore.__all__`` says, sorted (httpx style)."""

import corestore


def test_all_is_sorted_and_exact() -> None:
    exported = {name for name in vars(corestore) if not name.startswith("_")}
    submodules = {name for name in exported if type(getattr(corestore, name)).__name__ == "module"}
    assert corestore.__all__ == sorted(corestore.__all__)
    assert set(corestore.__all__) == exported - submodules
