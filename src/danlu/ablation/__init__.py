"""Data ablations (`danlu ablate`): small models trained on data variants at equal tokens and
scored on the same held-out text, to show what each curation step buys."""
