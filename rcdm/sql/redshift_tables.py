"""Redshift tables as SqlRender writes them (issue 17): a distribution style on every CREATE TABLE; reserved names
quoted.

SqlRender gives each table Redshift creates (SELECT ... INTO as CREATE TABLE ... AS, and CREATE TABLE (...)) a
distribution: DISTKEY(k) for ``--HINT DISTRIBUTE_ON_KEY(k)`` (``rcdm.sql.transforms.distribute_on_key``), else
DISTKEY on the first of person_id, subject_id, analysis_id among the table's columns, else DISTSTYLE ALL. Ours
does the same, looking at the columns the table will have (SqlRender matches the words anywhere in the select list,
so ``COUNT(DISTINCT person_id) AS n`` gets a DISTKEY on a column the table does not have, which Redshift refuses).

Names that are Redshift reserved words (Amazon Redshift Database Developer Guide, "Reserved words") must be
quoted: ``note_nlp.offset``, a column named ``tag``, ``percent`` or ``timestamp``. They are written quoted and
lower-case, the case Redshift folds names to.
"""

from __future__ import annotations

from sqlglot import exp

from rcdm.sql.transforms import Context, _append, _quote_reserved, _set, indexed

_DISTRIBUTION_COLUMNS = ("person_id", "subject_id", "analysis_id")

REDSHIFT_RESERVED = frozenset(
    """aes128 aes256 all allowoverwrite analyse analyze and any array as asc authorization az64 backup between binary
    blanksasnull both bytedict bzip2 case cast check collate column constraint create credentials cross current_date
    current_time current_timestamp current_user current_user_id default deferrable deflate defrag delta delta32k
    desc disable distinct do else emptyasnull enable encode encrypt encryption end except explicit false for foreign
    freeze from full globaldict256 globaldict64k grant group gzip having identity ignore ilike in initially inner
    intersect interval into is isnull join leading left like limit localtime localtimestamp lun luns lzo lzop minus
    mostly16 mostly32 mostly8 natural new not notnull null nulls off offline offset oid old on only open or order
    outer overlaps parallel partition percent permissions pivot placing primary raw readratio recover references
    rejectlog resort respect restore right select session_user similar snapshot some sysdate system table tag tdes
    text255 text32k then timestamp to top trailing true truncatecolumns union unique unnest unpivot user using
    verbose wallet when where with without""".split()
)

quote_reserved_redshift = _quote_reserved(REDSHIFT_RESERVED)
quote_reserved_redshift.__doc__ = "Quote names that are Redshift reserved words, lower-case as Redshift folds them."


def _distribution_key(create: exp.Create) -> str | None:
    """The column to distribute on: the first of person_id, subject_id, analysis_id the table defines, or that its
    query selects (under its alias, ``subject_id AS sid`` gives sid, as SqlRender does), or that a computed column
    is named (``1011 AS analysis_id``, Achilles' first column, which SqlRender's word match finds too)."""
    if isinstance(create.this, exp.Schema):
        names = {c.name.lower(): c.name for c in create.this.expressions if isinstance(c, exp.ColumnDef)}
    else:
        query = create.expression
        while isinstance(query, exp.SetOperation):
            query = query.this
        if not isinstance(query, exp.Select):
            return None
        names = {}
        for column in query.expressions:
            source = column.unalias()
            if isinstance(source, exp.Column):
                names.setdefault(source.name.lower(), column.alias_or_name)
            elif isinstance(column, exp.Alias):  # a computed column the table has by name: 1011 AS analysis_id
                names.setdefault(column.alias.lower(), column.alias)
    return next((names[c] for c in _DISTRIBUTION_COLUMNS if c in names), None)


def _has_distribution(properties: exp.Properties | None) -> bool:
    return properties is not None and any(
        isinstance(p, (exp.DistKeyProperty, exp.DistStyleProperty)) for p in properties.expressions
    )


@indexed(exp.Create)
def distribution_redshift(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Give CREATE TABLE without a distribution hint DISTKEY(person_id | subject_id | analysis_id) or DISTSTYLE ALL."""
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind")).upper() != "TABLE":
        return tree
    properties = tree.args.get("properties")
    if _has_distribution(properties) or ctx.distribute_on_key:
        return tree
    if not isinstance(tree.this, exp.Schema) and tree.expression is None:
        return tree
    key = _distribution_key(tree)
    prop: exp.Expression = (
        exp.DistKeyProperty(this=exp.to_identifier(key)) if key else exp.DistStyleProperty(this=exp.var("ALL"))
    )
    if properties is None:
        _set(ctx, tree, "properties", exp.Properties(expressions=[prop]))
    else:
        _append(ctx, properties, "expressions", prop)
    return tree
