"""The fine-tuning stage (sft): the pretrained model trained on conversations in the chat format,
with the loss on assistant tokens only, published as the chat model.

stage.py is the entry; data.py reads and encodes conversations; sft.py is full fine-tuning.
Each further method (LoRA, prompt tuning, a reward model, DPO) is one more file here, on the
loop, losses and model folders of danlu.train and danlu.model."""
