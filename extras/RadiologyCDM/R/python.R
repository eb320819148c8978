# Finding the rcdm Python package, calling it, and turning its errors into ordinary R errors.

.rcdmState <- new.env(parent = emptyenv())

#' The rcdm Python module
#'
#' Imports the Python package \code{rcdm} through reticulate, once per session, on first use (not at
#' \code{library(RadiologyCDM)}). reticulate uses the Python named by \code{RETICULATE_PYTHON} (e.g.
#' \code{Sys.setenv(RETICULATE_PYTHON = "~/rcdm/.venv/bin/python")}) or a virtualenv chosen with
#' \code{reticulate::use_virtualenv()}. When rcdm is missing, the error says exactly what to install.
#'
#' @param convert \code{FALSE} for the module imported with \code{convert = FALSE} (results stay Python
#'   objects; the wrappers use it to shape data frames on the Python side first).
#' @return The Python module (a reticulate object).
#' @seealso \code{\link{rcdmAvailable}} to test for it without an error.
#' @examplesIf rcdmAvailable()
#' rcdm <- rcdmPython()
#' rcdm$`__version__`
#' @export
rcdmPython <- function(convert = TRUE) {
  .checkFlags(convert = convert)
  if (is.null(.rcdmState$module)) {
    if (!rcdmAvailable()) {
      python <- tryCatch(reticulate::py_config()$python, error = function(e) "none found")
      stop(structure(class = c("rcdm_PythonMissing", "rcdm_error", "error", "condition"), list(
        message = paste0(
          "The Python package 'rcdm' is not available to reticulate (Python: ", python, ").\n",
          "Install it into that Python with:  ", python, " -m pip install 'rcdm[postgresql]'\n",
          "or point reticulate at a Python that has it, in a new R session before the first RadiologyCDM call:\n",
          "  Sys.setenv(RETICULATE_PYTHON = \"/path/to/venv/bin/python\")"),
        call = NULL)))
    }
    .bridge()$quiet_conversions()
    .rcdmState$module <- reticulate::import("rcdm", convert = TRUE)
    .rcdmState$raw <- reticulate::import("rcdm", convert = FALSE)
  }
  if (isFALSE(convert)) .rcdmState$raw else .rcdmState$module
}

#' Is the rcdm Python package available?
#'
#' \code{TRUE} when reticulate finds a Python with the \code{rcdm} package (this starts Python, once per
#' session). Use it to skip examples, vignettes and tests on machines without rcdm.
#' @return \code{TRUE} or \code{FALSE}.
#' @examples
#' rcdmAvailable()
#' @export
rcdmAvailable <- function() {
  # only TRUE is remembered: rcdm installed into the running Python later in the session is found then
  if (!isTRUE(.rcdmState$available)) {
    .rcdmState$available <- isTRUE(tryCatch(reticulate::py_module_available("rcdm"), error = function(e) FALSE))
  }
  .rcdmState$available
}

# A submodule of rcdm (convert = FALSE), after rcdmPython() has checked that rcdm is there.
.rcdmModule <- function(name) {
  rcdmPython()
  reticulate::import(name, convert = FALSE)
}

# The package's own Python helper (inst/python/radiologycdm_bridge.py), imported on first use.
.bridge <- function() {
  if (is.null(.rcdmState$bridge)) {
    .rcdmState$bridge <- reticulate::import_from_path(
      "radiologycdm_bridge", system.file("python", package = "RadiologyCDM", mustWork = TRUE), convert = FALSE)
  }
  .rcdmState$bridge
}

# Call a Python function (from a convert = FALSE import) with `...` (unnamed: positional, named: keywords).
# Its warnings become R warnings (class rcdm_<Category>, rcdm_warning), what it printed an R message, and its
# exception an R error classed by the exception's classes (rcdm_<Class>..., rcdm_error). The value is an R value,
# or the Python object with .convert = FALSE.
.pyCall <- function(fun, ..., .convert = TRUE) {
  args <- list(...)
  named <- if (is.null(names(args))) rep(FALSE, length(args)) else nzchar(names(args))
  outcome <- .bridge()$call(fun, unname(args[!named]), reticulate::py_dict(names(args)[named], unname(args[named])))
  output <- reticulate::py_to_r(outcome$output)
  if (nzchar(output)) message(structure(class = c("rcdm_output", "message", "condition"),
                                        list(message = output, call = NULL)))
  for (w in reticulate::py_to_r(outcome$warnings)) {
    warning(structure(class = c(paste0("rcdm_", w[[1]]), "rcdm_warning", "warning", "condition"),
                      list(message = w[[2]], call = NULL)))
  }
  classes <- unlist(reticulate::py_to_r(outcome$error_classes))
  if (length(classes) > 0) stop(.pythonError(classes, reticulate::py_to_r(outcome$error_message)))
  if (.convert) reticulate::py_to_r(outcome$value) else outcome$value
}

# A classed R error for a Python exception. A message longer than R prints by default (warning.length, 1,000
# characters) keeps its start and its end, where the cause usually is; the whole text is in $fullMessage.
.pythonError <- function(classes, message, limit = 1000) {
  full <- message
  if (nchar(message) > limit) {
    omitted <- nchar(message) - (limit - 300)
    message <- paste0(substr(message, 1, limit - 400), "\n[... ", omitted,
                      " characters omitted; the whole message is in the error's $fullMessage ...]\n",
                      substr(message, nchar(message) - 99, nchar(message)))
  }
  structure(class = c(paste0("rcdm_", classes), "rcdm_error", "error", "condition"),
            list(message = message, call = NULL, fullMessage = full))
}

# Run a call into Python made directly through reticulate (the conversion helpers); a Python error becomes an
# R error with the same message, classed by its type (e.g. "rcdm_IdentifierError", "rcdm_error"). R errors
# (already classed ones included) pass through: py_last_error() still holds the previous Python error after an
# R error, so it is used only when the error's own message carries it.
.rcdmCall <- function(expr) {
  tryCatch(expr, error = function(e) {
    if (inherits(e, "rcdm_error")) stop(e)
    info <- tryCatch(reticulate::py_last_error(), error = function(e2) NULL)
    if (!is.null(info) && !is.null(info$value) && nzchar(info$value) &&
        grepl(info$value, conditionMessage(e), fixed = TRUE)) {
      type <- if (is.null(info$type)) "Exception" else info$type
      stop(.pythonError(type, info$value))
    }
    stop(e)
  })
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

# Read-only wrappers refuse a DuckDB/SQLite path (or URL) whose file does not exist: connecting would
# create an empty database.
.requireExistingDatabase <- function(connectionDetails) {
  if (!is.character(connectionDetails)) return(invisible(NULL))
  .noNA(connectionDetails, "connectionDetails")
  missing <- reticulate::py_to_r(.rcdmModule("rcdm.interop")$missing_database_file(connectionDetails))
  if (!is.null(missing)) {
    .usageError(sprintf("No database at %s: create it with createRcdmTables() or runRcdmEtl() first", missing))
  }
  invisible(NULL)
}
