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
    type: str = Field(description="`text` (other parts are ignored)")
    text: str | None = Field(default=None, description="the text of a `text` part")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"] = Field(
        description="`system`, `developer`, `user`, `assistant` or `tool`"
    )
    content: str | list[ContentPart] | None = Field(
        default=None, description="text, or a list of content parts"
    )

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return " ".join(p.text or "" for p in self.content or [] if p.type == "text")


class ChatCompletionRequest(BaseModel):
    """What `client.chat.completions.create(...)` sends; the question is the last user message.
    Pass `extra_body={"video_ids": [...], "top_k": 5}` to choose what is searched."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "extractive",
                    "messages": [
                        {"role": "system", "content": "Answer briefly."},
                        {"role": "user", "content": "What is said about the budget?"},
                    ],
                    "stream": False,
                    "top_k": 5,
                }
            ]
        },
    )
    model: str = Field(examples=["extractive"], description="an id from `GET /v1/models`")
    messages: list[ChatMessage] = Field(
        description="the conversation; the last user message is the question",
        min_length=1,
        max_length=200,
    )
    stream: StrictBool = Field(
        default=False, description="true: OpenAI's streamed chunks, then `data: [DONE]`"
    )
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
    id: str = Field(description="the model: `extractive`, or the configured language model")
    object: Literal["model"] = Field(default="model", description="always `model`")
    created: int = Field(description="Unix time the gateway started")
    owned_by: str = Field(default="vidrag", description="always `vidrag`")


class ModelList(BaseModel):
    object: Literal["list"] = Field(default="list", description="always `list`")
    data: list[ModelCard] = Field(description="the models (answer modes)")


class ChatCitation(BaseModel):
    """A cited clip (vidrag extension): which video and which span the answer used."""

    video_id: str = Field(description="the cited video")
    title: str = Field(description="its title")
    start_s: float = Field(description="clip start, seconds")
    end_s: float = Field(description="clip end, seconds")
    mark: str = Field(description="the `[hh:mm:ss]` mark that stands for it in the text")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = Field(default="assistant", description="always `assistant`")
    content: str = Field(description="the answer text, with `[hh:mm:ss]` citation marks")


class Choice(BaseModel):
    index: int = Field(default=0, description="always 0")
    message: AssistantMessage = Field(description="the answer")
    finish_reason: Literal["stop", "length"] = Field(
        default="stop", description="always `stop` here (`POST /v1/ask` reports `length`)"
    )


class Usage(BaseModel):
    """Token counts: the LMM server's, or for extractive answers the gateway's estimate (on the
    high side: see `app.answer.tokens`)."""

    prompt_tokens: int = Field(description="tokens in the prompt")
    completion_tokens: int = Field(description="tokens in the answer")
    total_tokens: int = Field(description="their sum")


class ChatCompletion(BaseModel):
    id: str = Field(description="this completion's id")
    object: Literal["chat.completion"] = Field(
        default="chat.completion", description="always `chat.completion`"
    )
    created: int = Field(description="Unix time of the answer")
    model: str = Field(description="the model (answer mode) that answered")
    choices: list[Choice] = Field(description="one choice: the answer")
    usage: Usage = Field(
        description="token counts: the language model server's, else the gateway's estimate"
    )
    citations: list[ChatCitation] = Field(description="vidrag extension: the clips cited")
    hits: list[dict[str, Any]] = Field(
        description="vidrag extension: the clips retrieved, best first (as in `POST /v1/search`)"
    )


class OpenAIErrorBody(BaseModel):
    message: str = Field(description="what went wrong, for people")
    type: str = Field(description="the error's kind, e.g. `invalid_request_error`")
    param: str | None = Field(default=None, description="the request field at fault, if known")
    code: str | None = Field(default=None, description="a stable machine-readable name")


class OpenAIError(BaseModel):
    """Errors on the OpenAI-compatible routes, in OpenAI's shape (its clients parse them)."""

    error: OpenAIErrorBody = Field(description="the error")
