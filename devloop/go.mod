module devloop

go 1.26.0
