"""``rcdm study``: run a study spec (JSON/YAML) into an aggregate-only zip, show it for review, or merge many
sites' zips into tables and an HTML report."""

from __future__ import annotations

from typing import Any

import click

from rcdm.cli.common import Group, db_options, existing_db, options_from, options_of, quiet_option
from rcdm.options import StudyOptions

SPEC = click.Path(dir_okay=False)


@click.group(cls=Group)
def study() -> None:
    """Network studies: run a study spec (JSON/YAML) into an aggregate-only zip, or merge many sites' zips into
    tables and an HTML report."""


@study.command(short_help="run a study spec; write aggregate results (small counts suppressed) to a zip")
@click.argument("spec", metavar="SPEC", type=SPEC)
@db_options()
@options_from(StudyOptions)
@click.option("--site-config", default=None, metavar="FILE", type=click.Path(dir_okay=False),
              help="the site's settings (YAML/JSON: min_cell_count, audit_log)")
@click.option("--min-cell-count", type=int, default=None, metavar="N",
              help="the site's minimum cell count (default 5, or the site config's); a spec can raise it, never "
                   "lower it")
@click.option("--audit-log", default=None, metavar="FILE", type=click.Path(dir_okay=False),
              help="the site's release log (default $RCDM_STUDY_AUDIT_LOG or ~/.local/state/rcdm/study_releases.jsonl)")
def run(spec: str, db: str | None, schema: str, quiet: bool, **params: Any) -> int:
    """Run the study's analyses in the database and write manifest.json, spec.json and one CSV per analysis to
    --out. Counts below the spec's min_cell_count are suppressed; the zip is written only if a final scan finds
    nothing person-level."""
    from rcdm.db import connect  # the database layer and pandas load when the verb runs
    from rcdm.study import run_study
    from rcdm.study_spec import load_site_settings

    site = load_site_settings(params["site_config"], min_cell_count=params["min_cell_count"],
                              audit_log=params["audit_log"])
    with connect(existing_db(db)) as conn:
        result = run_study(spec, conn, schema, options_of(StudyOptions, params), site)
    if not quiet:
        suppressed = sum(t["primary"] + t["complementary"] for t in result["suppressed"].values())
        print(f"study results written to {result['out']} (spec {result['study_spec_hash'][:12]}, "
              f"{len(result['analyses'])} analyses, min cell count {result['min_cell_count']}, "
              f"{suppressed} cells suppressed; release recorded in {site.audit_log})")
    return 0


@study.command(short_help="print a spec's hash, analyses and every cohort SQL file it would run, for review")
@click.argument("spec", metavar="SPEC", type=SPEC)
def show(spec: str) -> int:
    """Validate a study spec and print what it would do at this site: its hash (the value of
    --approve-cohort-sql), its analyses, and the full text of each cohort SQL file."""
    from rcdm.study_cohort_sql import describe_cohort_sql
    from rcdm.study_spec import load_study

    loaded = load_study(spec)
    text = loaded.spec
    print(f"study {text['name']} {text['version']}\nspec hash {loaded.spec_hash}\n"
          f"min_cell_count of the spec: {text['min_cell_count'] or '(none: the site decides)'}\n"
          f"cohorts: {', '.join(str(c['id']) for c in text['cohorts'])}\n"
          f"analyses: {', '.join(a['id'] + ' (' + a['type'] + ')' for a in text['analyses'])}\n")
    print(describe_cohort_sql(text, loaded.spec_hash, loaded.cohort_sql), end="")
    return 0


@study.command(short_help="merge sites' study zips into one table per analysis and an HTML report")
@click.argument("zips", nargs=-1, required=True, metavar="ZIP...")
@click.option("--out", required=True, metavar="DIR", type=click.Path(file_okay=False), help="output folder")
@quiet_option()
def merge(zips: tuple[str, ...], out: str, quiet: bool) -> int:
    """Check that the zips ran the same study spec, then write <analysis>.csv (every site's rows and
    '(all sites)' sums), sites.csv and report.html to --out."""
    from rcdm.study import merge_results

    result = merge_results(list(zips), out)
    if not quiet:
        print(f"merged {len(result['sites'])} site(s) into {result['out_dir']}; report: {result['report']}")
    return 0
