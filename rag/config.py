"""One typed Settings object, read from PAPERCHAT_* variables and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.embed.base import BUNDLED, ONNX_FP32, ONNX_INT8, default_model_cache
from rag.paths import default_data_dir
from rag.registry import REGISTRY

TokenHeader = Literal["X-Chroma-Token", "Authorization"]
DEFAULT_TENANT, DEFAULT_DATABASE = "default_tenant", "default_database"  # Chroma's own defaults
BACKENDS: tuple[str, ...] = ("auto", *REGISTRY)  # the one list the CLI, eval and UI offer


def _env(name: str, *ecosystem: str) -> AliasChoices:
    """Accept PAPERCHAT_<name> first, then the ecosystem's own variable names."""
    return AliasChoices(f"PAPERCHAT_{name}", *ecosystem)


class Settings(BaseSettings):
    """Every knob paperchat has; build once at the entry point and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERCHAT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded Chroma index and the catalogs live (default: the "
        "per-user data folder, e.g. ~/.local/share/paperchat; `--data-dir` sets it too).",
    )
    collection: str = Field("paperchat", description="Chroma collection name.")
    chroma_host: str | None = Field(
        None,
        validation_alias=_env("CHROMA_HOST", "CHROMA_HOST", "CHROMA_SERVER_HOST"),
        description="Chroma server host; unset means the embedded store under data_dir.",
    )
    chroma_port: int = Field(
        8000,
        validation_alias=_env("CHROMA_PORT", "CHROMA_PORT", "CHROMA_SERVER_HTTP_PORT"),
        description="Chroma server port (used only with chroma_host).",
    )
    chroma_ssl: bool = Field(False, description="Use https to reach the Chroma server.")
    chroma_tenant: str = Field(
        DEFAULT_TENANT,
        validation_alias=_env("CHROMA_TENANT", "CHROMA_TENANT"),
        description="Chroma tenant on the server (Chroma Cloud: yours); only with chroma_host.",
    )
    chroma_database: str = Field(
        DEFAULT_DATABASE,
        validation_alias=_env("CHROMA_DATABASE", "CHROMA_DATABASE"),
        description="Chroma database within the tenant; used only with chroma_host.",
    )
    chroma_token: SecretStr | None = Field(
        None,
        validation_alias=_env("CHROMA_TOKEN", "CHROMA_API_KEY"),
        description="Token sent with every request to the Chroma server (a Chroma Cloud API key, "
        "or what an authenticating proxy in front of `chroma run` checks); never printed.",
    )
    chroma_token_header: TokenHeader = Field(
        "X-Chroma-Token",
        description="How the token is sent: 'X-Chroma-Token: <token>' (Chroma Cloud) or "
        "'Authorization' ('Authorization: Bearer <token>').",
    )
    corpus: list[Path] = Field(
        [Path("corpus/seeds")], description="Files or folders `paperchat ingest` reads by default."
    )
    embed_model: str = Field(
        ONNX_FP32,
        description=f"Embedder: '{ONNX_FP32}' (the bundled MiniLM under onnxruntime, exported "
        f"once into model_cache; same vectors and same index as '{BUNDLED}', which runs it "
        f"under PyTorch), '{ONNX_INT8}' (int8, its own index), a sentence-transformers model "
        "folder, or 'openai:MODEL' at the OpenAI-compatible endpoint.",
    )
    model_cache: Path = Field(
        default_factory=default_model_cache,
        description="Where the ONNX export of the bundled model is kept "
        "(default $XDG_CACHE_HOME/paperchat/models, i.e. ~/.cache/paperchat/models).",
    )
    embed_batch_size: int = Field(32, ge=1, description="Texts per embedding batch.")
    chunk_tokens: int = Field(
        160,
        ge=32,
        le=254,
        description="Max word pieces per chunk, title included (model reads 256).",
    )
    top_k: int = Field(5, ge=1, le=50, description="Papers retrieved per question.")
    backend: str = Field(
        "auto",
        description="Answer backend: auto (openai if configured, else extractive) or any name "
        "in rag.registry.",
    )
    min_relevance: float = Field(
        0.4, description="Evidence score below which an answer abstains (see docs/abstention.md)."
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=_env("OPENAI_API_KEY", "OPENAI_API_KEY"), description="API key."
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=_env("OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama.",
    )
    openai_model: str = Field("gpt-4o-mini", description="Chat model name at the endpoint.")
    temperature: float = Field(
        0.0, ge=0, le=2, description="Sampling temperature for the LLM (0: greedy decoding)."
    )
    max_answer_tokens: int = Field(500, ge=16, description="Max tokens the LLM may write.")
    auth: SecretStr | None = Field(
        None, description="user:password that the web UI asks for; unset means no login."
    )
    api_key: SecretStr | None = Field(
        None,
        description="Bearer key the OpenAI-compatible API (`paperchat api`, `paperchat serve`) "
        "requires; mandatory when it binds beyond loopback. Never printed.",
    )
    llm_context_tokens: int = Field(
        8192,
        ge=512,
        description="The chat model's context window; sources that do not fit are "
        "left out whole, lowest-ranked first.",
    )
    llm_fallback: bool = Field(
        True,
        description="When the LLM endpoint cannot be reached, answer extractively with a "
        "notice (false: fail with the error).",
    )
    request_timeout: float = Field(30.0, gt=0, description="Seconds before an LLM request fails.")
    llm_evidence: Literal["sentences", "abstracts"] = Field(
        "sentences",
        description="What the LLM reads: the chosen evidence sentences (small and fast, made "
        "for local models) or the retrieved abstracts whole (for large-context models).",
    )
    llm_evidence_units: int = Field(
        10,
        ge=1,
        le=40,
        description="Evidence sentences the LLM reads (sentences mode), best first and taken "
        "round-robin across papers; fewer is faster on a CPU (6 for a model under ~1B).",
    )
    structured_output: Literal["auto", "json", "text"] = Field(
        "auto",
        description="How the LLM writes its claims: json (a response_format JSON schema, in "
        "whichever form the endpoint takes), text (one claim per line with [n] citations) or "
        "auto (JSON where the endpoint takes OpenAI's json_schema form, else text).",
    )

    @field_validator("structured_output", mode="before")
    @classmethod
    def _format_from_bool(cls, value: object) -> object:
        """true/false (the setting's older form) mean json/text."""
        word = str(value).strip().lower()
        return {"true": "json", "1": "json", "false": "text", "0": "text"}.get(word, value)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"must be one of {', '.join(BACKENDS)}")
        return value

    def resolved_backend(self) -> str:
        """Return the concrete backend `auto` stands for."""
        if self.backend != "auto":
            return self.backend
        return "openai" if (self.openai_api_key or self.openai_base_url) else "extractive"

    @field_validator("data_dir", "model_cache")
    @classmethod
    def _home(cls, value: Path) -> Path:
        """Expand a leading ~ (a .env line is not expanded by a shell)."""
        return value.expanduser()

    @field_validator("auth")
    @classmethod
    def _user_colon_password(cls, value: SecretStr | None) -> SecretStr | None:
        user, sep, password = value.get_secret_value().partition(":") if value else ("u", ":", "p")
        if not (user and sep and password):
            raise ValueError("must look like user:password")
        return value

    @field_validator("chroma_token_header", mode="before")
    @classmethod
    def _header_name(cls, value: object) -> object:
        """Accept the header name in any case, and 'Bearer' for Authorization."""
        names = {"x-chroma-token": "X-Chroma-Token", "authorization": "Authorization"}
        text = str(value).strip().lower()
        return names.get("authorization" if text == "bearer" else text, value)

    def auth_pair(self) -> tuple[str, str] | None:
        """Return the UI login as (user, password), or None when no login is set."""
        if self.auth is None:
            return None
        user, _, password = self.auth.get_secret_value().partition(":")
        return user, password

    def store_location(self) -> str:
        """Describe where the index lives, for `stats` and errors."""
        if self.chroma_host:
            scheme = "https" if self.chroma_ssl else "http"
            where = f"chroma server {scheme}://{self.chroma_host}:{self.chroma_port}"
            if (self.chroma_tenant, self.chroma_database) != (DEFAULT_TENANT, DEFAULT_DATABASE):
                where += f" (tenant {self.chroma_tenant}, database {self.chroma_database})"
            return where
        return f"embedded chroma at {self.data_dir / 'chroma'}"
