# Finding the rcdm Python package, calling it, and turning its errors into ordinary R errors.

.rcdmState <- new.env(parent = emptyenv())

#' The rcdm Python module
#'
#' Imports the Python package \code{rcdm} through reticulate, once per session. reticulate uses the Python
#' named by \code{RETICULATE_PYTHON} (e.g. \code{Sys.setenv(RETICULATE_PYTHON = "~/rcdm/.venv/bin/python")})
#' or a virtualenv chosen with \code{reticulate::use_virtualenv()}. When rcdm is missing, the error says
#' exactly what to install.
#'
#' @return The Python module (a reticulate object).
#' @export
rcdmPython <- function() {
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
  }
  .rcdmState$module
}

# Run a call into Python; a Python error becomes an R error with the same message, classed by its type
# (e.g. "rcdm_IdentifierError", "rcdm_error") so callers can catch it with tryCatch.
.rcdmCall <- function(expr) {
  tryCatch(expr, error = function(e) {
    info <- tryCatch(reticulate::py_last_error(), error = function(e2) NULL)
    if (!is.null(info) && !is.null(info$value) && nzchar(info$value)) {
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
  if (is.numeric(x) && all(x == round(x), na.rm = TRUE)) return(as.integer(x))
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
