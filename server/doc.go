// Package server is leadscore's gRPC adapter: it registers the v1 services,
// the standard health and reflection services, and the interceptors that
// recover panics, log calls and map application errors to gRPC status codes
// in one place. Handlers stay thin: they convert between protobuf messages
// and domain types and call into the domain packages. Training and
// evaluation jobs run in the server's own job runner, and training
// schedules create their jobs from it; the server starts both with Serve
// and stops them with Shutdown.
package server
