// Package storetest is the conformance suite for leadscore.Store
// implementations. Each backend's tests call Run, RunHistory and
// RunRegistry with a function that opens a fresh, empty store, so
// PostgreSQL and SQLite are held to the same behaviour and the same schema.
package storetest
