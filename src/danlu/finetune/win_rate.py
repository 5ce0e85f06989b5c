"""A preference-tuned model against its starting point: both reply greedily to held-out
prompts, the reward model scores each reply, and the win rate counts a tie as half."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from danlu.errors import DataError
from danlu.finetune.pairs import reply_tokens
from danlu.jsonl import jsonl_records
from danlu.tokens.chat import messages_problem


@dataclass(frozen=True)
class Duel:
    id: str
    prompt: list[dict]
    reply: str  # the challenger's
    baseline: str
    reply_score: float
    baseline_score: float


def read_prompts(path: Path) -> list[tuple[str, list[dict]]]:
    """(id, messages ending with the user's turn) of a prompts JSONL file."""
    prompts = []
    for number, row in jsonl_records(path):
        problem = messages_problem(row.get("messages"), last_role="user")
        if problem:
            raise DataError(f"{path}:{number}: {problem}")
        prompts.append((str(row.get("id", f"{Path(path).name}:{number}")), row["messages"]))
    if not prompts:
        raise DataError(f"{path}: no prompts")
    return prompts


def replies(model, tokenizer, prompts: list[tuple[str, list[dict]]], max_new_tokens: int
            ) -> list[str]:
    from danlu.model.stream import greedy_ids

    return [tokenizer.decode(greedy_ids(model, tokenizer, messages, max_new_tokens),
                             skip_special_tokens=True).strip() for _, messages in prompts]


def reward_scores(reward_model, tokenizer, prompts: list[list[dict]], texts: list[str],
                  batch_size: int = 16) -> list[float]:
    """The reward model's score of each prompt + reply; a sequence longer than the reward
    model's context keeps its end (the reply), never its beginning alone."""
    import torch

    limit = reward_model.config.max_position_embeddings
    rows = [reply_tokens(tokenizer, p, t)[0][-limit:] for p, t in zip(prompts, texts)]
    pad = tokenizer.pad_token_id
    device = next(reward_model.parameters()).device
    scores: list[float] = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            chunk = rows[i:i + batch_size]
            ids = torch.full((len(chunk), max(map(len, chunk))), pad, dtype=torch.long)
            for j, r in enumerate(chunk):
                ids[j, :len(r)] = torch.tensor(r)
            out = reward_model(input_ids=ids.to(device), use_cache=False)
            scores += out.logits.squeeze(-1).float().tolist()
    return scores


def duel(challenger, baseline, reward_model, tokenizer, prompts, max_new_tokens: int
         ) -> list[Duel]:
    ours = replies(challenger, tokenizer, prompts, max_new_tokens)
    theirs = replies(baseline, tokenizer, prompts, max_new_tokens)
    messages = [m for _, m in prompts]
    a = reward_scores(reward_model, tokenizer, messages, ours)
    b = reward_scores(reward_model, tokenizer, messages, theirs)
    return [Duel(pid, m, o, t, sa, sb)
            for (pid, m), o, t, sa, sb in zip(prompts, ours, theirs, a, b)]


def win_rate(duels: list[Duel]) -> float:
    """Share of prompts where the challenger's reply scores higher; ties count half, and the
    same reply is a tie whatever the scores (they differ in the last bits with the padding of
    the batch each was scored in)."""
    def points(d: Duel) -> float:
        if d.reply == d.baseline or d.reply_score == d.baseline_score:
            return 0.5
        return 1.0 if d.reply_score > d.baseline_score else 0.0

    return sum(points(d) for d in duels) / max(len(duels), 1)


def identical(duels: list[Duel]) -> int:
    """Prompts where both models gave the same reply."""
    return sum(d.reply == d.baseline for d in duels)
