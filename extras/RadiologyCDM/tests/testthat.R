library(testthat)
library(RadiologyCDM)

test_check("RadiologyCDM")
