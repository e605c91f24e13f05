// Package server is leadscore's gRPC adapter: it registers the v1 services,
// the standard health and reflection services, and the interceptors that
// recover panics, log calls and map application errors to gRPC status codes
// in one place. Handlers stay thin: they convert between protobuf messages
// and domain types and call into the domain packages. Evaluation jobs run
// in the server's own job runner, which the server starts with Serve and
// stops with Shutdown.
package server
