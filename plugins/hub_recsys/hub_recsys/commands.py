"""The recommender's commands: ``hub recommend``, ``hub split-interactions``, ``hub export-towers``.

Thin: parse, call hub_recsys.recommend / split / export, print. Heavy imports inside.
"""
from __future__ import annotations

from pathlib import Path

import click


def add_commands(cli: click.Group) -> None:
    from hub_core.api import data_options, read_options

    @cli.command("recommend")
    @click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
    @click.option("--user", "-u", "users", multiple=True, required=True, help="A user ID (repeat for several users).")
    @click.option("--k", "-k", type=click.IntRange(min=1), default=10, show_default=True, help="Items per user.")
    @click.option("--onnx", "use_onnx", is_flag=True,
                  help="Use the exported ONNX graphs with onnxruntime (the towers if exported, else model.onnx).")
    @click.option("--include-seen", is_flag=True, help="Also recommend items the user interacted with in training.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.pass_obj
    def recommend(obj, model_dir, users, k, use_onnx, include_seen, as_json):
        """Recommend the top-K items for each --user of a recommender model directory.

        \b
        Every item is scored; items the user saw in training are left out (unless
        --include-seen). A user unknown to the model gets the most popular items,
        with a notice on stderr.
        \b
        hub recommend runs/mf --user u42
        hub recommend runs/mf -u u42 -u u7 --k 20 --json
        hub recommend runs/two-tower --user u42 --onnx     (after hub export / export-towers)
        """
        from hub_core.api import print_json, print_table
        from hub_recsys.recommend import recommend as run

        answers = run(obj.catalogue, Path(model_dir), list(users), k=k, use_onnx=use_onnx, include_seen=include_seen)
        if as_json:
            print_json(answers)
            return
        for answer in answers:
            print_table(f"user {answer['user']} ({answer['engine']})", ["rank", "item", "score"],
                        [[rank, item["item"], item["score"]] for rank, item in enumerate(answer["items"], 1)])

    @cli.command("split-interactions")
    @click.argument("data", type=click.Path(exists=True, dir_okay=False))
    @click.option("--by", type=click.Choice(["random", "last", "time"]), default="last", show_default=True,
                  help="random rows; each user's last interactions (leave-last-out); or a global time cut.")
    @click.option("--val", type=float, default=0.1, show_default=True,
                  help="Validation share (random, time); with --by last, 0 means no validation item.")
    @click.option("--test", type=float, default=0.1, show_default=True,
                  help="Test share (random, time); with --by last, 0 means no test item.")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
                  help="Folder for the train/val/test files.")
    @click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
    @data_options
    def split_interactions(data, by, val, test, seed, out, as_json, input_columns, label_column, skip_bad, data_root,
                           read_extra):
        """Split an interaction log into train, val and test files (same columns and format).

        \b
        hub split-interactions ratings.csv --by last --out data/      per-user leave-last-out
        hub split-interactions clicks.tsv --by time --test 0.2 -o data/
        """
        from hub_core.api import notice, print_json
        from hub_recsys.data import read_examples
        from hub_recsys.split import assign, write_splits

        log = read_examples(Path(data), read_options(input_columns, label_column, skip_bad, data_root, read_extra))
        counts = write_splits(log, assign(log, by, val, test, seed), Path(out))
        if as_json:
            print_json(counts)
        else:
            notice(f"wrote {out}: " + ", ".join(f"{n} {name}" for name, n in counts.items() if n))

    @cli.command("export-towers")
    @click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
    @click.option("--atol", type=float, default=1e-4, show_default=True, help="Allowed absolute difference from torch.")
    @click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
    @click.pass_obj
    def export_towers_cmd(obj, model_dir, atol, as_json):
        """Export an MF or two-tower model as a user tower and an item tower (ONNX), plus
        the item matrix (item_embeddings.npy, item_ids.json) for an ANN index.

        Score = user_vector · item_vector, exactly the model's score. Validated against
        torch with onnxruntime; the report goes to towers.json.
        """
        from hub_core.api import notice, print_json
        from hub_recsys.export import export_towers

        report = export_towers(obj.catalogue, Path(model_dir), atol=atol)
        if as_json:
            print_json(report)
        else:
            notice(f"wrote {model_dir}: user_tower.onnx, item_tower.onnx, item_embeddings.npy "
                   f"{tuple(report['item_matrix']['shape'])}, item_ids.json (validated, see towers.json)")
