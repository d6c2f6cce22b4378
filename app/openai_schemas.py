"""Bodies of the OpenAI-compatible face (`GET /v1/models`, `POST /v1/chat/completions`).

Only what the `openai` client and tools built on it send and read is modelled; unknown request
fields (`temperature`, `user`, `seed`, ...) are accepted and ignored, as OpenAI-compatible
servers do. vidrag's own fields are extensions: `video_ids`/`top_k` in the request, `citations`
and `hits` in the response (and in the last chunk of a stream)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.schemas import ClipCount
from indexer.settings import IndexSettings


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return " ".join(p.text or "" for p in self.content or [] if p.type == "text")


class ChatCompletionRequest(BaseModel):
    """What `client.chat.completions.create(...)` sends; the question is the last user message.
    Pass `extra_body={"video_ids": [...], "top_k": 5}` to choose what is searched."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(examples=["extractive"], description="an id from `GET /v1/models`")
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: StrictBool = False
    video_ids: list[str] | None = Field(
        default=None,
        max_length=500,
        json_schema_extra={"minItems": 1},
        description="vidrag extension: videos to search (each must be ready; default: all)",
    )
    top_k: ClipCount | None = Field(
        default=None,
        json_schema_extra={"minimum": 1, "maximum": IndexSettings().max_top_k},
        description="vidrag extension: clips to retrieve (default 5)",
    )


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "vidrag"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ChatCitation(BaseModel):
    """A cited clip (vidrag extension): which video and which span the answer used."""

    video_id: str
    title: str
    start_s: float
    end_s: float
    mark: str = Field(description="the `[hh:mm:ss]` mark that stands for it in the text")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    """Token counts: the LMM server's, or for extractive answers the gateway's estimate (on the
    high side: see `app.answer.tokens`)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    citations: list[ChatCitation] = Field(description="vidrag extension: the clips cited")
    hits: list[dict[str, Any]] = Field(description="vidrag extension: the clips retrieved")


class OpenAIErrorBody(BaseModel):
    message: str = Field(description="what went wrong, for people")
    type: str = Field(description="the error's kind, e.g. `invalid_request_error`")
    param: str | None = Field(default=None, description="the request field at fault, if known")
    code: str | None = Field(default=None, description="a stable machine-readable name")


class OpenAIError(BaseModel):
    """Errors on the OpenAI-compatible routes, in OpenAI's shape (its clients parse them)."""

    error: OpenAIErrorBody = Field(description="the error")
