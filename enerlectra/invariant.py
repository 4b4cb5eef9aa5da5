"""Invariants that hold even under `python -O` (plain `assert` would vanish there)."""


def invariant(condition: bool, message: str) -> None:
    """Stop the operation when a rule the code relies on is broken: a programmer error, never user input."""
    if not condition:
        raise AssertionError(message)
