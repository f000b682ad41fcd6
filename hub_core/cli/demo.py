"""``hub demo``: the main job, what ``make demo`` runs on a fresh machine (logic in hub_core.cli.demo_stages)."""
from pathlib import Path

import click


def add_commands(cli: click.Group) -> None:
    @cli.command("demo")
    @click.option("--out", "-o", type=click.Path(file_okay=False), default="demo-output", show_default=True,
                  help="Folder that keeps every demo's data and model directory.")
    @click.option("--only", multiple=True, metavar="MODALITY|NAME", help="Run only this demo (repeatable).")
    @click.option("--list", "list_only", is_flag=True, help="List the installed demos and exit.")
    @click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON for scripts.")
    @click.pass_obj
    def demo(obj, out, only, list_only, as_json):
        """Run the main job for every installed modality, offline: generate sample data,
        fine-tune a small model (real shipped weights where installed), evaluate, export to
        ONNX with validation, predict with onnxruntime alone, time torch against onnxruntime,
        and print one summary table. Fails (exit 1) if any row or any plugin failed.

        \b
        hub demo                     # every modality, models kept in ./demo-output
        hub demo --only image --json
        """
        from hub_core.common.console import notice, print_json, print_table
        from hub_core.cli.demo_stages import TABLE_COLUMNS, TABLE_WRAP, run_demos, select, table_rows
        from hub_core.common.errors import HubError

        specs = select(obj.catalogue, tuple(only))
        if list_only:
            print_table("demos", ["name", "modality", "model", "task", "plugin"],
                        [[s.name, s.modality, s.model, s.task, obj.catalogue.plugin_of("demo", s.name)] for s in specs])
            obj.hub.check_strict()
            return
        for failure in obj.hub.failures:
            notice(f"plugin problem: {failure}")
        if not specs:
            raise HubError("no demos installed: install a modality plugin (hub plugins install ...)")
        rows = run_demos(obj.catalogue, specs, Path(out), notice)
        if as_json:
            print_json([row.to_json() for row in rows])
        else:
            total = sum(row.seconds for row in rows)
            print_table(f"hub demo: {len(rows)} modalities in {total:.0f} s; model directories in {out}/ "
                        f"(latency: batch 1, one thread)", TABLE_COLUMNS, table_rows(rows), wrap=TABLE_WRAP)
        served = [row.directory for row in rows if not row.error]
        if served and not as_json:  # the models it made, as a service
            notice(f"serve them over HTTP (onnxruntime only): hub serve {' '.join(served)}")
        failed = [row.name for row in rows if row.error]
        if failed:
            raise HubError(f"demo failed: {', '.join(failed)} (see the table)")
        obj.hub.check_strict()
