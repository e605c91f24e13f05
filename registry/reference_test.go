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
		if got.String() == "" {
			t.Errorf("ParseReference(%q).String() is empty", tt.in)
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
