"""docs/consortium.md's ChainMaker configuration (English and Chinese) is a working one: its light
client options, read as the daemon reads them (with the trust roots file pointed at the recorded one),
follow the recorded blocks 2 and 3; and the docs say what was and was not run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from relayer.contract import CandidateHeader
from relayer_chainmaker.client import ChainMakerLightClient

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "consortium.md"
CLAIM = "erified against recorded data of ChainMaker 2.3.2; not yet run against a live node"  # [Vv]erified


def test_both_languages_configurations_follow_blocks_2_and_3(vector_blocks: dict[int, dict[str, Any]],
                                                           roots_path: Path) -> None:
    blocks = re.findall(r"```toml\n(\[chains\.chainmaker\].*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2
    for block in blocks:
        chain = tomllib.loads(block)["chains"]["chainmaker"]
        assert chain["light_client"] == "chainmaker"
        options = chain["light_client_options"] | {"trust_roots_file": str(roots_path)}
        client = ChainMakerLightClient.from_options("chainmaker", chain["chain_id"], 0, options)
        client.accept([client.check_header(CandidateHeader(n, None, b"", vector_blocks[n])) for n in (2, 3)])
        assert client.head_number == 3 and len(client.trusted_state()["trust_roots"]) == 2


def test_the_docs_say_what_was_run() -> None:
    """The exact words (Markdown wraps lines, so whitespace is compared as single spaces)."""
    def read(path: Path) -> str:
        return " ".join(path.read_text().split())
    doc = read(DOC)
    assert CLAIM in doc.split("## 中文")[0].split("### ChainMaker")[1]
    assert CLAIM in read(ROOT / "docs" / "adapters.md")
    assert CLAIM in read(ROOT / "adapters" / "chainmaker" / "README.md")
    assert "已对照长安链 ChainMaker 2.3.2 的记录数据验证；尚未在真实节点上运行" in doc
