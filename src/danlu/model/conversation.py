"""A conversation with a model: the history of turns `danlu chat` keeps, trimmed from the
oldest turn when the prompt and the reply would no longer fit the context."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from danlu.model.stream import context_length, prompt_ids, reply_room, stream_reply

log = logging.getLogger("danlu.chat")


def trim_history(tokenizer: Any, messages: list[dict[str, str]], budget: int
                 ) -> list[dict[str, str]]:
    """`messages` without their oldest turns, until the rendered prompt takes at most `budget`
    tokens. System messages and the last message stay; a turn goes whole (a user message and
    the replies after it), so the history never starts with an assistant."""
    system = [m for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    while len(turns) > 1 and len(prompt_ids(tokenizer, system + turns)) > budget:
        turns = turns[1:]
        while len(turns) > 1 and turns[0]["role"] == "assistant":
            turns = turns[1:]
    return system + turns


@dataclass
class Conversation:
    """Turns with one model; each reply streams, and joins the history once it is complete."""

    model: Any
    tokenizer: Any
    max_new_tokens: int
    temperature: float
    top_p: float
    system: str | None = None
    seed: int | None = None
    history: list[dict[str, str]] = field(default_factory=list)

    def messages(self, user_text: str) -> list[dict[str, str]]:
        """What the model reads to answer `user_text`: system prompt, the history that fits
        (the rest is forgotten), the new message."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        messages = system + self.history + [{"role": "user", "content": user_text}]
        n_ctx = context_length(self.model)
        kept = trim_history(self.tokenizer, messages,
                            n_ctx - reply_room(n_ctx, self.max_new_tokens))
        if len(kept) < len(messages):
            log.info("the conversation no longer fits the context: %d oldest messages dropped",
                     len(messages) - len(kept))
            self.history = [m for m in kept if m["role"] != "system"][:-1]
        return kept

    def reply(self, user_text: str) -> Iterator[str]:
        pieces: list[str] = []
        for piece in stream_reply(self.model, self.tokenizer, self.messages(user_text),
                                  max_new_tokens=self.max_new_tokens,
                                  temperature=self.temperature, top_p=self.top_p,
                                  seed=self.seed):
            pieces.append(piece)
            yield piece
        self.history += [{"role": "user", "content": user_text},
                         {"role": "assistant", "content": "".join(pieces)}]

    def reset(self) -> None:
        self.history = []
