module github.com/safetensors-go/safetensors/bench

go 1.24.1

require (
	github.com/maruel/safetensors v1.2.0
	github.com/nlpodyssey/safetensors v0.0.0-20250209183917-bfb01cc25f7c
	github.com/ollama/ollama v0.17.4
	github.com/safetensors-go/safetensors v0.0.0
	golang.org/x/sys v0.38.0
)

require (
	github.com/edsrzf/mmap-go v1.2.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
)

replace github.com/safetensors-go/safetensors => ../
