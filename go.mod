module github.com/safetensors-go/safetensors

go 1.24.0

require (
	github.com/x448/float16 v0.8.4
	golang.org/x/sys v0.38.0
)
