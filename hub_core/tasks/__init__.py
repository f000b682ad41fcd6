"""The tasks and heads that belong to no modality: classification, multi-label, regression."""
