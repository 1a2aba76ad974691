"""A small labelled corpus for the search tests: 20 artifacts and queries per mode.

``QUERIES`` share words with the artifact they expect (lexical search); ``PARAPHRASES`` name
the same artifacts in other words (semantic search). Each query expects one artifact among
the top 5; ``recall_at_5`` reports the share found.
"""

from __future__ import annotations

from typing import Any

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


# (query in other words, the name expected among the top 5)
PARAPHRASES: list[tuple[str, str]] = [
    ("image classifier weights trained on a large photo collection", "resnet50-imagenet.ckpt"),
    ("accuracy numbers for a vision transformer", "vit-base-eval.json"),
    ("movie review opinion classifier", "bert-sst2"),
    ("how well a language model predicts wikipedia articles", "gpt2-wikitext-perplexity"),
    ("the GPU ran out of RAM during training", "train.log"),
    ("turning audio recordings into written words", "whisper-small-transcripts"),
    ("bounding boxes around things in photos", "yolov8-coco-detections"),
    ("byte pair encoding settings", "tokenizer-config.json"),
    ("trying several step sizes for the optimiser", "learning-rate-sweep"),
    ("brain tumour masks from MRI scans", "unet-segmentation.ckpt"),
    ("documentation of a collection of medical scans", "dataset-card.md"),
    ("true and false positives per class", "confusion-matrix.csv"),
    ("low-rank fine-tuning of a large language model", "llama-lora-adapter"),
    ("optimiser settings with weight decay and warm-up", "hyperparameters.json"),
    ("which customers will cancel their subscription", "xgboost-churn-model"),
    ("which inputs matter most for the predictions", "feature-importance"),
    ("summary of model evaluations every seven days", "eval-report-weekly"),
    ("pictures generated from text prompts", "stable-diffusion-samples"),
    ("detecting spoken command words", "wav2vec-finetune.ckpt"),
    ("effect of randomly switching off neurons", "ablation-dropout"),
]

#: The lowest recall@5 each mode may have (its queries: lexical ``QUERIES``, semantic
#: ``PARAPHRASES``, hybrid both).
RECALL_FLOORS: dict[str, float] = {"lexical": 0.95, "semantic": 0.85, "hybrid": 0.85}


async def load_corpus(arts: Any) -> dict[str, Any]:
    """Save the corpus through a facade; the saved artifacts by name."""
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


async def recall_at_5(
    arts: Any, mode: str, queries: list[tuple[str, str]]
) -> tuple[float, list[tuple[str, str, list[str]]]]:
    """The share of ``queries`` whose expected artifact is in the top 5, and the misses."""
    misses = []
    for query, expected in queries:
        top = [a.name for a in await arts.search(query=query, mode=mode, limit=5)]
        if expected not in top:
            misses.append((query, expected, top))
    return 1 - len(misses) / len(queries), misses


#: Filters every text mode must honour (the filter x mode matrix).
FILTERS: list[dict[str, Any]] = [
    {"kind": "checkpoint"},
    {"labels": {"domain": "vision"}},
    {"tags": ["weekly"]},
    {"kind": "result", "labels": {"domain": "tabular"}},
    {"time_window": "1h"},
    {"metric": "f1"},
]


def assert_obeys(row: Any, filters: dict[str, Any]) -> None:
    """Fail unless an artifact satisfies every filter of a ``search`` call."""
    if "kind" in filters:
        assert row.kind == filters["kind"], row.name
    for key, value in filters.get("labels", {}).items():
        assert row.labels.get(key) == value, row.name
    assert set(filters.get("tags", [])) <= set(row.tags), row.name
    if "metric" in filters:
        assert filters["metric"] in row.metrics, row.name
