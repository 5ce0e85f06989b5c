"""The evaluate stage: a suite of tasks (task.py reads a task file and its data, task_data.py the
formats) scored by kind (kinds.py: perplexity with lm.py, multiple choice and classification
with choice.py, generation with textmetrics.py and similarity.py) on every model (suite.py),
checked for overlap with the training data (decontaminate.py), the champion gate
(danlu.tracking.promote) and the report card (card.py, plots.py, markdown.py).

stage.py is the entry (which models, the registry's champions, the gate); run.py the work."""
