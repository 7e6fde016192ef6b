// Package proto holds the plugin contract ifacetrace.plugin.v1; the generated
// Go code is in pluginv1 and is checked in. Regenerate with `make proto`
// (protoc, protoc-gen-go and protoc-gen-go-grpc); CI verifies it is current.
package proto

//go:generate protoc --go_out=pluginv1 --go_opt=paths=source_relative --go-grpc_out=pluginv1 --go-grpc_opt=paths=source_relative plugin.proto
