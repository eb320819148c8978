# Finding the rcdm Python package, calling it, and turning its errors into ordinary R errors.

.rcdmState <- new.env(parent = emptyenv())

#' The rcdm Python module
#'
#' Imports the Python package \code{rcdm} through reticulate, once per session. reticulate uses the Python
#' named by \code{RETICULATE_PYTHON} (e.g. \code{Sys.setenv(RETICULATE_PYTHON = "~/rcdm/.venv/bin/python")})
#' or a virtualenv chosen with \code{reticulate::use_virtualenv()}. When rcdm is missing, the error says
#' exactly what to install.
#'
#' @param convert \code{FALSE} for the module imported with \code{convert = FALSE} (results stay Python
#'   objects; the wrappers use it to shape data frames on the Python side first).
#' @return The Python module (a reticulate object).
#' @export
rcdmPython <- function(convert = TRUE) {
  if (is.null(.rcdmState$module)) {
    if (!reticulate::py_module_available("rcdm")) {
      python <- tryCatch(reticulate::py_config()$python, error = function(e) "none found")
      stop(paste0(
        "The Python package 'rcdm' is not available to reticulate (Python: ", python, ").\n",
        "Install it into that Python with:  ", python, " -m pip install 'rcdm[postgresql]'\n",
        "or point reticulate at a Python that has it, before loading RadiologyCDM:\n",
        "  Sys.setenv(RETICULATE_PYTHON = \"/path/to/venv/bin/python\")"
      ), call. = FALSE)
    }
    .rcdmState$module <- reticulate::import("rcdm", convert = TRUE)
    .rcdmState$raw <- reticulate::import("rcdm", convert = FALSE)
  }
  if (isFALSE(convert)) .rcdmState$raw else .rcdmState$module
}

# Run a call into Python; a Python error becomes an R error with the same message, classed by its type
# (e.g. "rcdm_IdentifierError", "rcdm_error") so callers can catch it with tryCatch. R errors (already classed
# ones included) pass through: py_last_error() still holds the previous Python error after an R error, so it
# is used only when the error's own message carries it.
.rcdmCall <- function(expr) {
  tryCatch(expr, error = function(e) {
    if (inherits(e, "rcdm_error")) stop(e)
    info <- tryCatch(reticulate::py_last_error(), error = function(e2) NULL)
    if (!is.null(info) && !is.null(info$value) && nzchar(info$value) &&
        grepl(info$value, conditionMessage(e), fixed = TRUE)) {
      type <- if (is.null(info$type)) "Exception" else info$type
      cond <- structure(
        class = c(paste0("rcdm_", type), "rcdm_error", "error", "condition"),
        list(message = info$value, call = NULL)
      )
      stop(cond)
    }
    stop(e)
  })
}

# Plain R values for Python: NULL stays None; whole doubles where Python wants an int become integers.
.asInt <- function(x) {
  if (is.null(x)) return(NULL)
  if (is.numeric(x) && !anyNA(x) && all(x == round(x)) && all(abs(x) <= .Machine$integer.max)) {
    return(as.integer(x))
  }
  x
}

.onLoad <- function(libname, pkgname) {
  # reticulate 1.28 (Debian 12) calls an Index method that pandas 2.x deprecates on every data.frame
  # conversion; the warning says nothing to an R user, so it is silenced for that one message.
  if (reticulate::py_available(initialize = FALSE) || nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
    try(reticulate::py_run_string(paste0(
      "import warnings; warnings.filterwarnings('ignore', message='Index.format is deprecated', ",
      "category=FutureWarning)")), silent = TRUE)
  }
}

# --- R values out: exact ids, plain vectors, Dates -------------------------------------------------------

# A pandas DataFrame (or a dict of them) made R-friendly on the Python side (rcdm.interop.columns_for_r: hashed
# 63-bit ids as character, numbers, dates and date-times as raw bytes, text as one joined string, NA masks), so
# no numpy array crosses reticulate (reticulate 1.28 cannot read numpy 2's); then tidied with .fixFrame.
.frameForR <- function(frame) {
  interop <- reticulate::import("rcdm.interop", convert = FALSE)
  .fromColumns(reticulate::py_to_r(interop$columns_for_r(frame)))
}

.fromColumns <- function(value) {
  if (is.list(value) && isTRUE(value$rcdm_columns)) return(.fixFrame(.columnsToFrame(value)))
  if (is.list(value) && !is.data.frame(value)) return(lapply(value, .fromColumns))
  value
}

# The columns rcdm.interop.columns_for_r sends, as a data.frame.
.columnsToFrame <- function(cols) {
  n <- as.integer(cols$rows)
  out <- vector("list", length(cols$names))
  for (i in seq_along(out)) {
    v <- cols$values[[i]]
    x <- switch(cols$kinds[[i]],
      double = readBin(v, "double", n = n, size = 8, endian = "little"),
      logical = as.logical(readBin(v, "integer", n = n, size = 1, signed = FALSE)),
      date = structure(readBin(v, "double", n = n, size = 8, endian = "little"), class = "Date"),
      datetime = structure(readBin(v, "double", n = n, size = 8, endian = "little"),
                           class = c("POSIXct", "POSIXt"), tzone = "UTC"),
      character = if (n == 0) character(0) else utils::head(strsplit(v, "\x1f", fixed = TRUE)[[1]], n),
      characters = as.character(unlist(v)),
      stop(sprintf("unknown column kind %s", cols$kinds[[i]]), call. = FALSE)
    )
    if (is.character(x)) Encoding(x) <- "UTF-8"
    mask <- cols$missing[[i]]
    if (!is.null(mask)) x[readBin(mask, "integer", n = n, size = 1, signed = FALSE) == 1L] <- NA
    out[[i]] <- x
  }
  names(out) <- unlist(cols$names)
  structure(out, class = "data.frame", row.names = .set_row_names(n))
}

# List columns (Python objects with None) become atomic vectors with NA; NaN becomes NA; *_date columns
# become Date; date-times are POSIXct in UTC; the pandas index attribute is dropped.
.fixFrame <- function(frame) {
  attr(frame, "pandas.index") <- NULL
  for (name in names(frame)) {
    x <- frame[[name]]
    if (is.list(x)) {
      present <- Filter(function(v) !is.null(v) && length(v) == 1, x)
      single <- function(v, type, na) if (is.null(v) || length(v) != 1) na else type(v)
      if (length(present) > 0 && all(vapply(present, is.logical, logical(1)))) {
        x <- vapply(x, single, logical(1), type = as.logical, na = NA, USE.NAMES = FALSE)
      } else if (length(present) > 0 && all(vapply(present, is.numeric, logical(1)))) {
        x <- vapply(x, single, numeric(1), type = as.numeric, na = NA_real_, USE.NAMES = FALSE)
      } else {
        x <- vapply(x, single, character(1), type = as.character, na = NA_character_, USE.NAMES = FALSE)
      }
    }
    if (is.double(x) && !inherits(x, "POSIXt")) x[is.nan(x)] <- NA
    if (inherits(x, "POSIXct")) {
      if (grepl("_date$", name)) {
        x <- as.Date(x, tz = "UTC")
      } else {
        attr(x, "tzone") <- "UTC"
      }
    }
    frame[[name]] <- x
  }
  rownames(frame) <- NULL
  frame
}

# --- R values in: no NA where Python would read TRUE or -2147483648 ---------------------------------------

# Stop when an argument holds NA (reticulate would pass NA as True and NA_integer_ as -2147483648).
.noNA <- function(x, name) {
  if (!is.null(x) && is.atomic(x) && anyNA(x)) {
    stop(sprintf("`%s` must not be NA", name), call. = FALSE)
  }
  invisible(x)
}

# A single whole number for Python's int (e.g. a cohort definition id): no NA, no fraction, within R's integer
# range; anything else is an R error naming the argument.
.asId <- function(x, name) {
  if (length(x) != 1 || !is.numeric(x) || is.na(x) || x != round(x) || abs(x) > .Machine$integer.max) {
    stop(sprintf("`%s` must be a single whole number (at most %d), not %s", name, .Machine$integer.max,
                 paste(deparse(x), collapse = " ")), call. = FALSE)
  }
  as.integer(x)
}

# Read-only wrappers refuse a DuckDB/SQLite path (or URL) whose file does not exist: connecting would
# create an empty database.
.requireExistingDatabase <- function(connectionDetails) {
  if (!is.character(connectionDetails)) return(invisible(NULL))
  .noNA(connectionDetails, "connectionDetails")
  interop <- reticulate::import("rcdm.interop", convert = TRUE)
  missing <- interop$missing_database_file(connectionDetails)
  if (!is.null(missing)) {
    stop(sprintf("No database at %s: create it with createRcdmTables() or runRcdmEtl() first", missing),
         call. = FALSE)
  }
  invisible(NULL)
}
