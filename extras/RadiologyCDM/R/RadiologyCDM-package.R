#' RadiologyCDM: the Radiology Common Data Model (R-CDM) for OHDSI sites
#'
#' An R interface to the rcdm Python package through reticulate, named and shaped as OHDSI's R packages are.
#' Functions take DatabaseConnector-style connection details (\code{\link{createRcdmConnectionDetails}} or
#' DatabaseConnector's own), a DuckDB/SQLite path, or a SQLAlchemy URL.
#'
#' \itemize{
#'   \item Tables and loading: \code{\link{createRcdmTables}}, \code{\link{runRcdmEtl}},
#'     \code{\link{getRcdmQualityReport}}, \code{\link{loadRcdmCdmCsv}} (an OMOP CDM from CSV, e.g. Eunomia).
#'   \item Protocols: \code{\link{loadRcdmPlaybook}}, \code{\link{remapRcdmProtocols}},
#'     \code{\link{exportRcdmUnmapped}}.
#'   \item Cohorts, as CohortGenerator: \code{\link{generateRcdmCohortSet}} (a cohort definition set),
#'     \code{\link{getRcdmCohortCounts}}, then \code{\link{getCohortImages}}.
#'   \item Network studies: \code{\link{runRcdmStudy}}, \code{\link{mergeRcdmStudyResults}}.
#'   \item SqlRender: \code{\link{renderRcdmSql}}, \code{\link{translateRcdmSql}}, \code{\link{splitRcdmSql}};
#'     DatabaseConnector: \code{\link{executeRcdmSql}}, \code{\link{queryRcdmSql}}, \code{\link{insertRcdmTable}}.
#' }
#'
#' Python starts on the first call that needs it, not at \code{library(RadiologyCDM)}: set
#' \code{RETICULATE_PYTHON} to a Python that has rcdm before that call. Python warnings (a new site secret,
#' data-quality findings, SqlRender's) arrive as R warnings, Python errors as R errors classed
#' \code{rcdm_<PythonClass>} and \code{rcdm_error}; nothing is printed by Python itself. See
#' \code{vignette("RadiologyCDM")} for the whole workflow on Eunomia's GiBleed.
#' @keywords internal
"_PACKAGE"
