module e2e

go 1.26.0

require github.com/google/go-dap v0.12.0
