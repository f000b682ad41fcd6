"""The data options of every command that reads data (``--input-column`` ... ``--read-option``).

Their own module, light (click only), because plugins' commands use them too
(``hub_core.api.data_options``): building those commands at start-up imports this, not
the training commands and their config.
"""
from __future__ import annotations

import click


def data_options(function=None, *, labels: bool = True):
    """Options describing the data's layout, shared by every command that reads data
    (``@data_options(labels=False)``: no --label-column, for unlabelled data)."""
    if function is None:
        return lambda f: data_options(f, labels=labels)
    decorators = [
        click.option("--input-column", "input_columns", multiple=True,
                     help="Column(s) holding the input (repeat for text pairs / several inputs)."),
        *([click.option("--label-column", default="label", show_default=True, help="Column holding the label.")]
          if labels else []),
        click.option("--skip-bad", is_flag=True, help="Skip unreadable examples (and count them) instead of failing."),
        click.option("--data-root", type=click.Path(file_okay=False), help="Paths in data files must stay inside this folder."),
        click.option("--read-option", "read_extra", multiple=True, metavar="KEY=VALUE",
                     help="A reader option of the modality (e.g. label_separator='|')."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def read_options(input_columns, label_column, skip_bad, data_root, read_extra, labelled=True):
    from hub_core.model.contracts import ReadOptions
    from hub_core.train.config import parse_pairs

    return ReadOptions(input_columns=tuple(input_columns), label_column=label_column, skip_bad=skip_bad,
                       data_root=data_root, labelled=labelled, extra=parse_pairs(read_extra, "--read-option"))
