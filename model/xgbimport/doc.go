// Package xgbimport turns an XGBoost model saved in its JSON format
// (save_model("m.json")) into a leadscore GBDT that scores and explains
// exactly as XGBoost does: Read parses and checks the file, Map resolves
// its features to a lead's attributes, and Convert builds the feature spec
// and ensemble. It reads from an io.Reader only; the command line and the
// server do the I/O.
package xgbimport
