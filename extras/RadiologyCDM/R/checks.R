# Argument checks in R, before anything reaches Python: wrong types, NA and wrong lengths are refused with an
# error of class rcdm_UsageError that names the R argument (reticulate would pass NA as TRUE, "yes" as a
# string Python might read as true, and a misspelt argument would be reported under its Python name).

# Stop with an R error of class rcdm_UsageError (and rcdm_error), like the Python side's UsageError.
.usageError <- function(message, class = character(0)) {
  stop(structure(class = c(class, "rcdm_UsageError", "rcdm_error", "error", "condition"),
                 list(message = message, call = NULL)))
}

.columnTypeError <- function(message) .usageError(message, class = "rcdm_ColumnTypeError")

.describe <- function(x) {
  text <- paste(deparse(x, width.cutoff = 60L), collapse = " ")
  if (nchar(text) > 80) text <- paste0(substr(text, 1, 77), "...")
  text
}

# Stop unless valid(x) for each named argument x (NULL is fine for those named in `.null`); the error says
# "`name` must be <what>, not <the value>".
.checkEach <- function(args, valid, what, .null = character(0)) {
  for (name in names(args)) {
    x <- args[[name]]
    if (is.null(x) && name %in% .null) next
    if (!isTRUE(valid(x))) {
      .usageError(sprintf("`%s` must be %s%s, not %s", name, what, if (name %in% .null) " or NULL" else "",
                          .describe(x)))
    }
  }
  invisible(NULL)
}

.isOne <- function(x) length(x) == 1 && !is.na(x)

# Each named argument must be TRUE or FALSE.
.checkFlags <- function(...) .checkEach(list(...), function(x) is.logical(x) && .isOne(x), "TRUE or FALSE")

# Each named argument must be a single non-NA, non-empty string (NULL allowed for those in `.null`).
.checkText <- function(..., .null = character(0)) {
  .checkEach(list(...), function(x) is.character(x) && .isOne(x) && nzchar(x), "a single non-empty string",
             .null)
}

# A character vector of at least one non-NA, non-empty string (e.g. file paths).
.checkStrings <- function(x, name) {
  .checkEach(structure(list(x), names = name), function(x) is.character(x) && length(x) > 0 && !anyNA(x) &&
               all(nzchar(x)), "a character vector of non-empty strings without NA")
}

# Each named argument must be one whole number >= `.min` (NULL allowed for those in `.null`).
.checkWhole <- function(..., .min = 1, .null = character(0)) {
  .checkEach(list(...), function(x) is.numeric(x) && .isOne(x) && is.finite(x) && x == round(x) && x >= .min &&
               x <= .Machine$integer.max, sprintf("a single whole number of at least %s", .min), .null)
}

# Each named argument must be one finite number (NULL allowed for those in `.null`).
.checkNumber <- function(..., .null = character(0)) {
  .checkEach(list(...), function(x) is.numeric(x) && .isOne(x) && is.finite(x), "a single finite number", .null)
}

# One of the given choices.
.checkChoice <- function(x, name, choices) {
  if (!is.character(x) || length(x) != 1 || is.na(x) || !(x %in% choices)) {
    .usageError(sprintf("`%s` must be one of %s, not %s", name, paste0("\"", choices, "\"", collapse = ", "),
                        .describe(x)))
  }
  invisible(x)
}

# A cohort (or other OMOP) id for Python's int, exact: a whole number up to 2^53 (what a double holds
# exactly), or a string of digits for a 64-bit id (as R holds the keyed-hash ids). Returns a Python int.
.asId <- function(x, name) {
  builtins <- reticulate::import_builtins(convert = FALSE)
  if (is.character(x) && length(x) == 1 && !is.na(x) && grepl("^-?[0-9]{1,19}$", x)) {
    digits <- sub("^-", "", x)
    if (nchar(digits) < 19 || digits <= "9223372036854775807") return(builtins$int(x))
  }
  if (is.numeric(x) && !inherits(x, "integer64") && length(x) == 1 && !is.na(x) && is.finite(x) &&
      x == round(x) && abs(x) <= 2^53) {
    return(builtins$int(sprintf("%.0f", x)))
  }
  .usageError(sprintf(paste0("`%s` must be one whole number (a number up to 2^53, or a string of digits for a ",
                             "64-bit id), not %s"), name, .describe(x)))
}

# Stop when an argument holds NA (reticulate would pass NA as True and NA_integer_ as -2147483648).
.noNA <- function(x, name) {
  if (!is.null(x) && is.atomic(x) && anyNA(x)) .usageError(sprintf("`%s` must not be NA", name))
  invisible(x)
}
