"""``hub tune``: a thin wrapper over hub_core.train.tune; every ``hub finetune`` option passes through."""
from __future__ import annotations

import click

from hub_core.cli.training import (
    plan,
    data_options,
    read_options,
    train_options,
)

# finetune's own options that mean the same here (reused from the registered command, not copied)
FROM_FINETUNE = ("task", "data", "val", "weights")


def show(result: dict, out: str) -> None:
    from hub_core.common.console import notice, print_table

    rows = result["results"]
    params = [k for k in (rows[0] if rows else {}) if k not in
              ("trial", "state", "value", "epochs", "seconds", "host", "base", "error")]

    def cell(value):
        return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    print_table(f"hub tune {out}: {result['monitor']} ({result['direction']})",
                ["trial", "state", result["monitor"], "epochs", *params, "s"],
                [[str(r["trial"]) + (" (base)" if r["base"] else ""), r["state"], cell(r["value"]), cell(r["epochs"]),
                  *(cell(r[p]) for p in params), cell(r["seconds"])] for r in rows])
    line = f"{result['trials']} trials: {result['complete']} complete, {result['pruned']} pruned, {result['failed']} failed"
    if result["base"]:
        line += f"; base configuration (trial {result['base']['trial']}) {result['base']['value']:.4f}"
    if result["best"]:
        best = result["best"]
        line += f"; best trial {best['trial']} {best['value']:.4f}" + (
            f" -> {best['dir']}" if best["dir"] else f" (its model directory is on {best['host']})")
    notice(line)
    for skipped in result["plots_skipped"]:
        notice(f"plot not drawn: {skipped}")


def add_commands(cli: click.Group) -> None:
    # --storage, --study-name, --heartbeat (several machines): hidden from --help, listed by --help-all
    @cli.command("tune")
    @click.argument("model")
    @click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
                  help="The search's folder: trials/NNN, best/, results.csv, plots, study.db.")
    @click.option("--trials", "-n", required=True, type=click.IntRange(min=1), help="Trials to finish (in all processes).")
    @click.option("--space", "space_file", type=click.Path(dir_okay=False),
                  help="A TOML search space ([lr] low = 1e-4 high = 1e-1 log = true ...) [the backbone family's].")
    @click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
                  help="Start no trial after this many seconds.")
    @click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
                  help="Worker processes on this machine, sharing the study.")
    @click.option("--storage", hidden=True, help="Optuna RDB storage URL (postgresql://... for several machines) "
                                    "[sqlite:///OUT/study.db].")
    @click.option("--study-name", default="hub-tune", show_default=True, hidden=True, help="The study's name in --storage.")
    @click.option("--pruner", type=click.Choice(["median", "hyperband", "none"]), default="median", show_default=True,
                  help="Stop clearly worse trials early, on the per-epoch validation metric.")
    @click.option("--heartbeat", type=click.IntRange(min=1), default=10, show_default=True, hidden=True,
                  help="Seconds between a trial's heartbeats; silent for twice this, it is failed and retried.")
    @click.option("--keep-all", is_flag=True, help="Keep the model directories of pruned trials too.")
    @click.option("--quiet", "-q", is_flag=True, help="No line per trial.")
    @click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
    @data_options
    @train_options
    @click.pass_context
    def tune(ctx, model, out, trials, space_file, timeout, jobs, storage, study_name, pruner, heartbeat, keep_all,
             quiet, as_json, task, data, val, weights, input_columns, label_column, skip_bad, data_root, read_extra,
             **flags):
        """Search MODEL's training hyper-parameters with Optuna (TPE, seeded by --seed), pruning
        clearly worse trials; every other 'hub finetune' option sets the base configuration.
        OUT/best is the best trial's model directory, ready for 'hub export'. The same command
        again continues the study (finished trials are kept).

        \b
        hub tune tiny/mlp -t classification -d train.csv --val val.csv -o runs/tune --trials 20
        hub tune nlp/bert-tiny -t classification -d train.csv -o runs/tune -n 30 --space space.toml -j 2
        hub tune ... --storage postgresql://user:pass@db/hub   (on each machine; see docs/user-guide.md)
        """
        from hub_core.train.tune import Settings
        from hub_core.train.tune import tune as run_tune

        obj = ctx.obj
        read = read_options(input_columns, label_column, skip_bad, data_root, read_extra)
        # the job and base configuration finetune would run (the family's recipe under the flags)
        job, config = plan(obj.catalogue, model, task, data, val, out, weights, read, flags, quiet=True)
        settings = Settings(trials=trials, out=out, space_file=space_file, timeout=timeout, jobs=jobs, storage=storage,
                            study_name=study_name, pruner=pruner, keep_all=keep_all, heartbeat=heartbeat, quiet=quiet,
                            registries=tuple(ctx.find_root().params.get("registries") or ()))
        result = run_tune(obj.catalogue, job, config, settings)
        if as_json:
            from hub_core.common.console import print_json

            print_json(result)
        else:
            show(result, out)

    shared = [param for param in cli.commands["finetune"].params if param.name in FROM_FINETUNE]
    tune.params[1:1] = shared  # after MODEL, as in finetune
