package registry

import (
	"testing"

	"github.com/leadscore/leadscore"
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		in   string
		want Reference
	}{
		{"default@champion", Reference{Alias: leadscore.AliasRef{Model: "default", Alias: "champion"}}},
		{"default@3", Reference{Version: leadscore.VersionRef{Model: "default", Version: 3}}},
		{"default/versions/12", Reference{Version: leadscore.VersionRef{Model: "default", Version: 12}}},
		{"models/default/versions/2", Reference{Version: leadscore.VersionRef{Model: "default", Version: 2}}},
		{"models/default/aliases/challenger", Reference{Alias: leadscore.AliasRef{Model: "default", Alias: "challenger"}}},
		{"model.lsm", Reference{File: "model.lsm"}},
		{"./out/default@champion", Reference{File: "./out/default@champion"}},
		{"/tmp/x/versions/3", Reference{File: "/tmp/x/versions/3"}},
	}
	for _, tt := range tests {
		got, err := ParseReference("model", tt.in)
		if err != nil {
			t.Errorf("ParseReference(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseReference(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseReferenceRefusesMalformedRegistryReferences(t *testing.T) {
	for _, in := range []string{"", "default@0", "default@Champion!", "models/default/versions/0", "models/default/other/1", "default/versions/x"} {
		if got, err := ParseReference("model", in); err == nil {
			t.Errorf("ParseReference(%q) = %+v, want an error", in, got)
		} else if leadscore.ErrorCode(err) != leadscore.EINVALID {
			t.Errorf("ParseReference(%q) error code = %s, want invalid", in, leadscore.ErrorCode(err))
		}
	}
}

func TestParsePolicyRef(t *testing.T) {
	tests := []struct {
		in   string
		id   string
		rev  int64
		file bool
	}{
		{"default", "default", 0, false},
		{"strict@3", "strict", 3, false},
		{"gatePolicies/strict", "strict", 0, false},
		{"gatePolicies/strict/revisions/2", "strict", 2, false},
		{"policy.yaml", "", 0, true},
		{"ci/gate.json", "", 0, true},
		{"./gate", "", 0, true},
	}
	for _, tt := range tests {
		if got := IsPolicyFile(tt.in); got != tt.file {
			t.Errorf("IsPolicyFile(%q) = %v, want %v", tt.in, got, tt.file)
		}
		if tt.file {
			continue
		}
		id, rev, err := ParsePolicyRef(tt.in)
		if err != nil || id != tt.id || rev != tt.rev {
			t.Errorf("ParsePolicyRef(%q) = %q, %d, %v; want %q, %d", tt.in, id, rev, err, tt.id, tt.rev)
		}
	}
	for _, bad := range []string{"Strict", "strict@0", "strict@x", "gatePolicies/strict/revisions/"} {
		if _, _, err := ParsePolicyRef(bad); err == nil {
			t.Errorf("ParsePolicyRef(%q) succeeded, want an error", bad)
		}
	}
}
