"""A short end-to-end tour of the embedded SDK: ``python -m satchel.demo [STORE_DIR]``.

It saves text, JSON, a file and a directory into the store (``SATCHEL_HOME`` or
``~/.satchel`` when no directory is given), lists them, loads them back verified, and
prints where everything lives. Until the server lands, this is what ``scripts/start`` runs.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import satchel


async def tour(store: str | None) -> None:
    """Run the tour against ``store`` (None: the configured home)."""
    async with satchel.Context(
        store=store,
        session_id="demo",
        user_id="demo-user",
        tool_name="satchel-demo",
        tool_version=satchel.__version__,
    ) as ctx:
        arts = ctx.artifacts()
        note = await arts.save_text("Hello, world!", name="hello.txt", tags=["demo"])
        result = await arts.save_json(
            {"accuracy": 0.93, "epochs": 3},
            name="result.json",
            kind="result",
            metrics={"accuracy": 0.93},
        )
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = Path(tmp) / "model.ckpt"
            ckpt.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
            checkpoint = await arts.save_file(ckpt, kind="checkpoint", labels={"epoch": 3})
            (Path(tmp) / "logs" / "train").mkdir(parents=True)
            (Path(tmp) / "logs" / "train" / "epoch1.log").write_text("loss=0.5\n")
            (Path(tmp) / "logs" / "train" / "epoch2.log").write_text("loss=0.3\n")
            logs = await arts.ingest_dir(Path(tmp) / "logs", kind="log")
        print(
            f"store: {ctx.store.home if ctx.store else ctx.settings.store}    run: {ctx.run_id}\n"
        )
        print(f"{'artifact id':<28}{'kind':<12}{'name':<14}{'bytes':>9}  files")
        for a in await arts.list():
            print(
                f"{a.artifact_id:<28}{a.kind or '':<12}{a.name or '':<14}{a.bytes or 0:>9}"
                f"  {len(a.files)}"
            )
        print()
        print("load_text_by_id ->", await arts.load_text_by_id(note.artifact_id))
        print("load_json_by_id ->", await arts.load_json_by_id(result.artifact_id))
        print("as_local_file   ->", await arts.as_local_file(checkpoint))
        print("as_local_dir    ->", await arts.as_local_dir(logs))
        print("checkpoint uri  ->", checkpoint.uri)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = sys.argv[1:] if argv is None else argv
    asyncio.run(tour(args[0] if args else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
