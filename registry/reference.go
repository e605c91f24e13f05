package registry

import (
	"context"
	"strconv"
	"strings"

	"github.com/leadscore/leadscore"
)

// Reference names a model version the way people type it on a command
// line: through the registry, or as an artifact file.
type Reference struct {
	// Version is set for "name/versions/N", "models/name/versions/N" and
	// "name@N".
	Version leadscore.VersionRef
	// Alias is set for "name@alias" and "models/name/aliases/alias".
	Alias leadscore.AliasRef
	// File is set for anything else: a path to an artifact file.
	File string
}

// ParseReference reads a reference. A string shaped like a registry
// reference is one, and must be valid; anything else is an artifact path.
func ParseReference(field, s string) (Reference, error) {
	if s == "" {
		return Reference{}, leadscore.InvalidField(field, s, "is required: name@alias, name/versions/N or an artifact file")
	}
	if strings.HasPrefix(s, "models/") {
		if v, err := leadscore.ParseVersionName(field, s); err == nil {
			return Reference{Version: v}, nil
		}
		a, err := leadscore.ParseAliasName(field, s)
		if err != nil {
			return Reference{}, leadscore.InvalidField(field, s, "must be models/{model}/versions/{n} or models/{model}/aliases/{alias}")
		}
		return Reference{Alias: a}, nil
	}
	if name, alias, ok := strings.Cut(s, "@"); ok && leadscore.ValidateSlug(field, name) == nil {
		if n, err := strconv.ParseInt(alias, 10, 64); err == nil {
			if n < 1 {
				return Reference{}, leadscore.InvalidField(field, s, "the version must be a whole number from 1")
			}
			return Reference{Version: leadscore.VersionRef{Model: name, Version: n}}, nil
		}
		if err := leadscore.ValidateSlug(field, alias); err != nil {
			return Reference{}, err
		}
		return Reference{Alias: leadscore.AliasRef{Model: name, Alias: alias}}, nil
	}
	if name, num, ok := strings.Cut(s, "/versions/"); ok && leadscore.ValidateSlug(field, name) == nil {
		v, err := leadscore.ParseVersionName(field, "models/"+name+"/versions/"+num)
		if err != nil {
			return Reference{}, err
		}
		return Reference{Version: v}, nil
	}
	return Reference{File: s}, nil
}

// IsFile reports whether the reference is an artifact file.
func (r Reference) IsFile() bool { return r.File != "" }

// Resolve returns the version a registry reference points at now.
func (r *Registry) Resolve(ctx context.Context, ref Reference) (leadscore.VersionRef, error) {
	switch {
	case ref.File != "":
		return leadscore.VersionRef{}, leadscore.InvalidField("reference", ref.File, "is an artifact file, not a registry reference")
	case ref.Alias.Model != "":
		a, err := r.store.GetAlias(ctx, ref.Alias)
		if err != nil {
			return leadscore.VersionRef{}, err
		}
		return leadscore.VersionRef{Model: a.Model, Version: a.Version}, nil
	default:
		if _, err := r.store.GetModelVersion(ctx, ref.Version); err != nil {
			return leadscore.VersionRef{}, err
		}
		return ref.Version, nil
	}
}
