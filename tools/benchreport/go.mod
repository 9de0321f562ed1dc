module github.com/ipcarc/ipcarc/tools/benchreport

go 1.26.0
