module smarm-bench-peers

go 1.19
