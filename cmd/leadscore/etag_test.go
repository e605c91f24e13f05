package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestCIPromotesTheEvaluationItStored walks what a CI job does: a stored
// backtest whose --json names the evaluation, a promotion justified by that
// name, and moves guarded by the etags the command line prints, in the
// API's form.
func TestCIPromotesTheEvaluationItStored(t *testing.T) {
	w := setupWorkflow(t)
	store := filepath.Join(t.TempDir(), "leadscore.db")
	copyFile(t, w.store, store)

	code, out, errOut := runCommand(t, nil, "backtest", "--model", "default/versions/1", "--data", w.history, "--cutoff", "2025-02-01", "--store", store, "--json")
	if code != exitOK {
		t.Fatalf("backtest: exit %d\n%s", code, errOut)
	}
	var rep struct {
		Evaluation string `json:"evaluation"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !strings.HasPrefix(rep.Evaluation, "evaluations/ev-") {
		t.Fatalf("backtest --json names evaluation %q (%v); want evaluations/ev-…", rep.Evaluation, err)
	}

	code, out, errOut = runCommand(t, nil, "promote", "default/versions/1", "--evaluation", rep.Evaluation, "--store", store, "--json")
	if code != exitOK {
		t.Fatalf("promote --evaluation %s: exit %d\n%s", rep.Evaluation, code, errOut)
	}
	var moved struct {
		Alias struct {
			ETag string `json:"etag"`
		} `json:"alias"`
		Entry struct {
			Evaluation string `json:"evaluation"`
		} `json:"history_entry"`
	}
	if err := json.Unmarshal([]byte(out), &moved); err != nil {
		t.Fatal(err)
	}
	if moved.Alias.ETag != `"1"` || moved.Entry.Evaluation != rep.Evaluation {
		t.Fatalf("promotion %s: want etag \"1\" and the evaluation named", out)
	}

	code, out, errOut = runCommand(t, nil, "models", "default", "--store", store, "--json")
	if code != exitOK {
		t.Fatalf("models: exit %d\n%s", code, errOut)
	}
	var listed struct {
		Aliases []struct {
			ETag string `json:"etag"`
		} `json:"aliases"`
		Versions []struct {
			ETag string `json:"etag"`
		} `json:"versions"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed.Aliases) != 1 || listed.Aliases[0].ETag != `"1"` ||
		len(listed.Versions) != 2 || !strings.HasPrefix(listed.Versions[0].ETag, `"`) {
		t.Fatalf("models --json: %s (%v); want quoted etags on the alias and the versions", out, err)
	}
	code, out, _ = runCommand(t, nil, "models", "default@champion", "--store", store)
	if code != exitOK || !strings.Contains(out, `models/default/aliases/champion: etag "1"`) {
		t.Fatalf("models default@champion: exit %d\n%s", code, out)
	}

	// A forced move with a stale etag fails; with the etag as printed it
	// goes through; the bare revision of older scripts still works.
	force := []string{"promote", "default/versions/2", "--force", "--reason", "etag test", "--store", store}
	if code, _, errOut = runCommand(t, nil, append(force, "--etag", `"7"`)...); code != exitFail {
		t.Fatalf("promote with a stale etag: exit %d, %s; want exit 1", code, errOut)
	}
	if code, _, errOut = runCommand(t, nil, append(force, "--etag", "three")...); code != exitError || !strings.Contains(errOut, "--etag") {
		t.Fatalf("promote with a malformed etag: exit %d, %s; want exit 2 naming --etag", code, errOut)
	}
	code, out, errOut = runCommand(t, nil, append(force, "--etag", moved.Alias.ETag)...)
	if code != exitOK || !strings.Contains(out, `etag "2"`) {
		t.Fatalf("promote with the etag: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut = runCommand(t, nil, "rollback", "default@champion", "--reason", "etag test", "--etag", "2", "--store", store); code != exitOK {
		t.Fatalf("rollback with the bare revision: exit %d, %s", code, errOut)
	}
}
