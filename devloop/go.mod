module devloop

go 1.26.0

require (
	github.com/fsnotify/fsnotify v1.10.1
	github.com/google/go-dap v0.12.0
	github.com/gorilla/websocket v1.5.3
)

require golang.org/x/sys v0.50.0
