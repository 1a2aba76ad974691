"""Lexical search: a labelled corpus with recall@5, typos and partial ids, filters, reindex."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from conftest import facade_of
from satchel.index import fts

CORPUS: list[dict[str, Any]] = [
    {
        "name": "resnet50-imagenet.ckpt",
        "kind": "checkpoint",
        "text": "ResNet-50 weights after 90 epochs on ImageNet",
        "labels": {"domain": "vision"},
    },
    {
        "name": "vit-base-eval.json",
        "kind": "metric",
        "json": {"model": "vit-base", "top1": 0.81},
        "labels": {"domain": "vision"},
    },
    {
        "name": "bert-sst2",
        "kind": "model",
        "text": "BERT fine-tuned on SST-2 sentiment classification",
        "labels": {"domain": "nlp"},
    },
    {
        "name": "gpt2-wikitext-perplexity",
        "kind": "metric",
        "text": "perplexity 29.4 on wikitext-103",
        "labels": {"domain": "nlp"},
    },
    {
        "name": "train.log",
        "kind": "log",
        "text": "epoch 1 loss 2.31\\nepoch 2 loss 1.87\\nCUDA out of memory at step 4021",
        "labels": {"host": "gpu-node-7"},
    },
    {
        "name": "whisper-small-transcripts",
        "kind": "result",
        "text": "speech recognition transcripts from whisper small on librispeech",
        "labels": {"domain": "audio"},
    },
    {
        "name": "yolov8-coco-detections",
        "kind": "result",
        "text": "object detection boxes on COCO val2017",
        "labels": {"domain": "vision"},
    },
    {
        "name": "tokenizer-config.json",
        "kind": "json",
        "json": {"vocab_size": 50257, "tokenizer": "byte-level BPE"},
        "labels": {"domain": "nlp"},
    },
    {
        "name": "learning-rate-sweep",
        "kind": "result",
        "text": "grid search over learning rates 1e-3 1e-4 3e-5",
        "labels": {"study": "lr"},
    },
    {
        "name": "unet-segmentation.ckpt",
        "kind": "checkpoint",
        "text": "U-Net medical image segmentation on BraTS",
        "labels": {"domain": "medical"},
    },
    {
        "name": "dataset-card.md",
        "kind": "text",
        "text": "Dataset card: licence CC-BY-4.0, 12k annotated radiology reports",
        "labels": {"domain": "medical"},
    },
    {
        "name": "confusion-matrix.csv",
        "kind": "metric",
        "text": "class,tp,fp,fn\\ncat,90,3,7\\ndog,85,9,6",
        "labels": {"domain": "vision"},
    },
    {
        "name": "llama-lora-adapter",
        "kind": "model",
        "text": "LoRA adapter rank 16 for llama instruction tuning",
        "labels": {"domain": "nlp"},
    },
    {
        "name": "hyperparameters.json",
        "kind": "json",
        "json": {"optimizer": "adamw", "weight_decay": 0.01, "warmup_steps": 500},
        "labels": {"study": "lr"},
    },
    {
        "name": "xgboost-churn-model",
        "kind": "model",
        "text": "gradient boosted trees predicting customer churn",
        "labels": {"domain": "tabular"},
    },
    {
        "name": "feature-importance",
        "kind": "result",
        "text": "SHAP feature importance for the churn model",
        "labels": {"domain": "tabular"},
    },
    {
        "name": "eval-report-weekly",
        "kind": "result",
        "text": "weekly evaluation summary of all production models",
        "tags": ["weekly"],
    },
    {
        "name": "stable-diffusion-samples",
        "kind": "result",
        "text": "generated images from stable diffusion prompts",
        "labels": {"domain": "vision"},
    },
    {
        "name": "wav2vec-finetune.ckpt",
        "kind": "checkpoint",
        "text": "wav2vec 2.0 fine-tuned for keyword spotting",
        "labels": {"domain": "audio"},
    },
    {
        "name": "ablation-dropout",
        "kind": "result",
        "text": "ablation of dropout rates 0.1 0.2 0.3",
        "labels": {"study": "ablation"},
    },
]

# (query, the name expected among the top 5)
QUERIES: list[tuple[str, str]] = [
    ("resnet imagenet", "resnet50-imagenet.ckpt"),
    ("vit", "vit-base-eval.json"),
    ("sentiment", "bert-sst2"),
    ("perplexity", "gpt2-wikitext-perplexity"),
    ("out of memory", "train.log"),
    ("speech recognition", "whisper-small-transcripts"),
    ("object detection coco", "yolov8-coco-detections"),
    ("vocab_size", "tokenizer-config.json"),
    ("learning rates", "learning-rate-sweep"),
    ("segmentation", "unet-segmentation.ckpt"),
    ("radiology", "dataset-card.md"),
    ("confusion", "confusion-matrix.csv"),
    ("lora", "llama-lora-adapter"),
    ("adamw", "hyperparameters.json"),
    ("churn", "xgboost-churn-model"),
    ("SHAP", "feature-importance"),
    ("weekly", "eval-report-weekly"),
    ("diffusion", "stable-diffusion-samples"),
    ("wav2vec", "wav2vec-finetune.ckpt"),
    ("dropout", "ablation-dropout"),
]

RECALL_FLOOR = 0.95


async def load_corpus(arts: Any) -> dict[str, Any]:
    saved = {}
    for item in CORPUS:
        meta = {
            "name": item["name"],
            "kind": item["kind"],
            "labels": item.get("labels"),
            "tags": item.get("tags"),
        }
        if "json" in item:
            saved[item["name"]] = await arts.save_json(item["json"], **meta)
        else:
            saved[item["name"]] = await arts.save_text(item["text"], **meta)
    return saved


async def test_recall_at_5_on_the_labelled_corpus(arts, capsys):
    await load_corpus(arts)
    hits = 0
    misses = []
    for query, expected in QUERIES:
        top = [a.name for a in await arts.search(query=query, mode="lexical", limit=5)]
        if expected in top:
            hits += 1
        else:
            misses.append((query, expected, top))
    recall = hits / len(QUERIES)
    with capsys.disabled():
        print(f"\nlexical recall@5 = {recall:.2f} over {len(QUERIES)} queries")
    assert recall >= RECALL_FLOOR, misses


async def test_default_mode_for_a_query_is_lexical(arts):
    await load_corpus(arts)
    assert [a.name for a in await arts.search(query="churn", limit=1)] == ["xgboost-churn-model"]


async def test_typos_and_partial_ids_find_the_artifact(arts):
    saved = await load_corpus(arts)
    top = [a.name for a in await arts.search(query="segmentaiton", limit=5)]
    assert "unet-segmentation.ckpt" in top
    top = [a.name for a in await arts.search(query="whsiper transcripts", limit=5)]
    assert "whisper-small-transcripts" in top
    target = saved["bert-sst2"]
    found = await arts.search(query=target.artifact_id[-10:], limit=3)
    assert found and found[0].artifact_id == target.artifact_id


@pytest.mark.parametrize(
    "filters",
    [
        {"kind": "checkpoint"},
        {"labels": {"domain": "vision"}},
        {"tags": ["weekly"]},
        {"kind": "result", "labels": {"domain": "tabular"}},
        {"time_window": "1h"},
    ],
    ids="+".join,
)
async def test_filters_hold_on_the_text_path(arts, filters):
    await load_corpus(arts)
    for query, _ in QUERIES:
        for row in await arts.search(query=query, **filters):
            if "kind" in filters:
                assert row.kind == filters["kind"]
            for key, value in filters.get("labels", {}).items():
                assert row.labels.get(key) == value
            assert set(filters.get("tags", [])) <= set(row.tags)
    assert await arts.search(query="resnet", kind="checkpoint")
    assert await arts.search(query="resnet", kind="log") == []


async def test_metric_on_the_text_path_requires_the_metric(arts):
    await arts.save_text("alpha model", name="with", kind="model", metrics={"f1": 0.5})
    await arts.save_text("alpha model", name="without", kind="model")
    assert [a.name for a in await arts.search(query="alpha", metric="f1")] == ["with"]


async def test_level_and_other_runs_on_the_text_path(open_context, facade_kind):
    mine = facade_of(open_context(run_id="ra", session_id="s1"), facade_kind)
    theirs = facade_of(open_context(run_id="rb", session_id="s1"), facade_kind)
    await mine.save_text("quantum annealing notes", name="mine")
    await theirs.save_text("quantum annealing notes", name="theirs")
    assert [a.name for a in await mine.search(query="quantum")] == ["mine"]
    assert sorted(a.name for a in await mine.search(query="quantum", level="session")) == [
        "mine",
        "theirs",
    ]


async def test_binary_content_is_not_indexed_but_names_are(arts, tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"secretword " * 10)
    await arts.save_file(path, kind="checkpoint")
    assert await arts.search(query="secretword") == []
    assert [a.name for a in await arts.search(query="weights")] == ["weights.bin"]


async def test_reindex_rebuilds_the_text_index(context, facade_kind):
    arts = facade_of(context, facade_kind)
    saved = await load_corpus(arts)
    assert [a.name for a in await arts.search(query="radiology", limit=1)] == ["dataset-card.md"]
    db = context.store.index.url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM artifact_fts")
        conn.execute("DELETE FROM artifact_trigram")
    assert await arts.search(query="radiology") == []
    assert context.store.index.reindex() == len(saved)
    assert [a.name for a in await arts.search(query="radiology", limit=1)] == ["dataset-card.md"]


async def test_saves_are_searchable_as_soon_as_they_return(arts):
    # Text indexing is not on the save path: the next search catches up first.
    for i in range(3):
        a = await arts.save_text(f"zeppelin log {i}", name=f"z{i}")
        found = await arts.search(query="zeppelin", limit=10)
        assert a.artifact_id in {x.artifact_id for x in found}
        assert len(found) == i + 1


async def test_another_context_sees_new_saves(open_context, facade_kind):
    writer = facade_of(open_context(run_id="rw"), facade_kind)
    reader = facade_of(open_context(run_id="rw"), facade_kind)
    assert await reader.search(query="marmalade") == []
    saved = await writer.save_text("marmalade recipe", name="m")
    assert [a.artifact_id for a in await reader.search(query="marmalade")] == [saved.artifact_id]


@pytest.mark.parametrize("level", ["run", "session", "user", "org"])
async def test_another_orgs_artifacts_never_show(open_context, facade_kind, level):
    shared = {"session_id": "s1", "user_id": "u1", "run_id": "r1"}
    mine = facade_of(open_context(org_id="o1", **shared), facade_kind)
    theirs = facade_of(open_context(org_id="o2", **{**shared, "user_id": "u2"}), facade_kind)
    other_session = facade_of(
        open_context(org_id="o2", session_id="s9", user_id="u9", run_id="r9"), facade_kind
    )
    await theirs.save_text(
        "confidential quarterly forecast", name="secret", kind="report", metrics={"acc": 0.99}
    )
    await other_session.save_text(
        "confidential quarterly forecast", name="secret2", kind="report", metrics={"acc": 0.98}
    )
    await mine.save_text("public roadmap", name="mine", kind="report", metrics={"acc": 0.1})
    for query in ("confidential", "forecast", "confidnetial", "quarterly report"):
        for row in await mine.search(query=query, level=level):
            assert row.org_id == "o1", (query, row.name)
    if level == "org":
        assert [r.name for r in await mine.search(level=level)] == ["mine"]
        best = await mine.best(kind="report", metric="acc", metric_mode="max", level=level)
        assert best is not None and best.name == "mine"


async def test_catch_up_commits_in_short_transactions(context, facade_kind, monkeypatch):
    monkeypatch.setattr(fts, "_BATCH", 2)
    monkeypatch.setattr(fts, "CATCH_UP_ROWS", 2)
    arts = facade_of(context, facade_kind)
    saved = {(await arts.save_text(f"walrus {i}", name=f"w{i}")).artifact_id for i in range(7)}
    assert {a.artifact_id for a in await arts.search(query="walrus", limit=20)} == saved
    assert context.store.index.reindex() == 7
    assert {a.artifact_id for a in await arts.search(query="walrus", limit=20)} == saved
