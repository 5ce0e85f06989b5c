"""The pretrain stage: a Llama-family model trained from scratch on the token shards, in one
process or under torchrun (launch.py), published with its tokenizer as the base model.

stage.py is the entry; run.py the work; plan.py shapes the run from params. The training loop
itself is danlu.train, shared with every other trainer."""
