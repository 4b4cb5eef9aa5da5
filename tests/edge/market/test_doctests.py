"""The examples in the market modules' docstrings are part of the contract: run them."""

import doctest

import pytest

import edge.market.carbon
import edge.market.distribution
import edge.market.matching
import edge.market.pricing


@pytest.mark.parametrize(
    "module",
    [edge.market.carbon, edge.market.distribution, edge.market.matching, edge.market.pricing],
    ids=lambda module: module.__name__,
)
def test_docstring_examples(module):
    failures, attempts = doctest.testmod(module)
    assert attempts > 0
    assert failures == 0
