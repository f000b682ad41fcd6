"""Sharing model directories: ``hub push`` publishes one as a repository revision (a
Hugging Face-style layout and model card, content digests), ``hub pull`` brings a revision
back, verified before anything loads. A stage beside ``deploy``: it reads model directories
and never trains or runs a model itself (interop files come from the modality's plugin)."""
